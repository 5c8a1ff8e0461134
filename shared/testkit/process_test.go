package testkit

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func TestPrivateServersStopAndStart(t *testing.T) {
	ctx := context.Background()
	r := PrivateRedis(t)
	opts, _ := redis.ParseURL(r.URL())
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("stopped redis still answers")
	}
	r.Start()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("restarted redis: %v", err)
	}

	pg := PrivatePostgres(t)
	ping := func() error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, pg.AdminURL())
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		return conn.Ping(ctx)
	}
	if err := ping(); err != nil {
		t.Fatal(err)
	}
	pg.Stop()
	if ping() == nil {
		t.Fatal("stopped postgres still answers")
	}
	pg.Start()
	if err := ping(); err != nil {
		t.Fatalf("restarted postgres: %v", err)
	}
}
