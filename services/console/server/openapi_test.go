package server

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"
)

// TestOpenAPIMatchesTheRouter holds openapi.json and the router together:
// every operation the document names is routed, and every /api route is
// documented.
func TestOpenAPIMatchesTheRouter(t *testing.T) {
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q, want 3.x", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	s, err := New(Deps{Log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	routed := map[string]bool{}
	err = chi.Walk(s.Routes().(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.ReplaceAll(route, "/*/", "/")
		if strings.HasPrefix(route, "/api/") {
			routed[method+" "+regexp.MustCompile(`\{(\w+)(:[^}]*)?\}`).ReplaceAllString(route, "{$1}")] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for op := range documented {
		if !routed[op] {
			t.Errorf("openapi.json documents %s, which the router does not serve", op)
		}
	}
	for op := range routed {
		if !documented[op] {
			t.Errorf("the router serves %s, which openapi.json does not document", op)
		}
	}
	if len(routed) < 8 {
		t.Errorf("only %d /api routes found; the walk is broken", len(routed))
	}
}
