package app_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/console/app"
)

// TestConsoleMetricsNeedCredentials: the console is the public edge, but
// its /metrics are internal like every service's.
func TestConsoleMetricsNeedCredentials(t *testing.T) {
	c := startConsole(t, 10)
	for path, want := range map[string]int{"/metrics": 401, "/healthz": 200} {
		resp, err := http.Get(c.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s = %d %s, want %d", path, resp.StatusCode, body, want)
		}
	}
}

// TestConsoleRefusesToStartWithoutServiceKey: outside development mode the
// console cannot call the services without its key, so it does not
// start, and says which variable is missing before it touches anything.
func TestConsoleRefusesToStartWithoutServiceKey(t *testing.T) {
	cfg := app.DefaultConfig()
	cfg.DatabaseURL = "postgres://nobody@127.0.0.1:1/none?sslmode=disable"
	_, err := app.New(context.Background(), cfg, zap.NewNop(), app.Options{})
	if err == nil || !strings.Contains(err.Error(), "CONSOLE_SERVICE_KEY is required") {
		t.Fatalf("New = %v, want a refusal naming CONSOLE_SERVICE_KEY", err)
	}
}
