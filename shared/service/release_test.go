package service_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/service"
	"github.com/musterhq/muster/shared/testkit"
)

// What an app opens beside the service's connections (a Redis client) is
// closed by Close, once however often Close is called, and what closing it
// said is Shutdown's answer.
func TestCloseReleasesWhatTheAppOpened(t *testing.T) {
	migrations := fstest.MapFS{"0001_nothing.sql": {Data: []byte("-- +goose Up\nSELECT 1;\n")}}
	cfg := service.Config{DatabaseURL: testkit.Database(t, migrations), DBMaxConns: 2, ShutdownTimeout: 5 * time.Second}
	// The console's name: no NATS user, so nothing but the database.
	deps, err := service.Open(context.Background(), "console", cfg, migrations, zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	closed := 0
	deps.Release("redis", func() error { closed++; return errors.New("connection reset") })
	err = deps.Shutdown()
	if closed != 1 || err == nil || !strings.Contains(err.Error(), "closing redis: connection reset") {
		t.Fatalf("first Shutdown: closed %d times, err %v", closed, err)
	}
	if err := deps.Shutdown(); closed != 1 || err == nil {
		t.Fatalf("second Shutdown: closed %d times, err %v (the first's error is still the answer)", closed, err)
	}
}
