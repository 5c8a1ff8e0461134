package server

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"
)

// apiDoc is the part of openapi.json the tests hold to the router.
type apiDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

// apiOp is one documented operation.
type apiOp struct {
	Summary    string            `json:"summary"`
	Role       string            `json:"x-role"`
	Steward    bool              `json:"x-steward"`
	Audited    *bool             `json:"x-audited"`
	Security   *[]map[string]any `json:"security"`
	Parameters []struct {
		Ref string `json:"$ref"`
		In  string `json:"in"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Example any `json:"example"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Ref     string `json:"$ref"`
		Content map[string]struct {
			Schema struct {
				Properties map[string]any `json:"properties"`
			} `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

func readDoc(t *testing.T) (apiDoc, map[string]apiOp) {
	t.Helper()
	var doc apiDoc
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	ops := map[string]apiOp{}
	for path, methods := range doc.Paths {
		for method, raw := range methods {
			if method == "parameters" {
				continue
			}
			var op apiOp
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			ops[strings.ToUpper(method)+" "+path] = op
		}
	}
	return doc, ops
}

// TestOpenAPIMatchesTheRouter holds openapi.json and the router together:
// every operation the document names is routed, and every /api route is
// documented.
func TestOpenAPIMatchesTheRouter(t *testing.T) {
	doc, documented := readDoc(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q, want 3.x", doc.OpenAPI)
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
		if _, ok := documented[op]; !ok {
			t.Errorf("the router serves %s, which openapi.json does not document", op)
		}
	}
	if len(routed) < 50 {
		t.Errorf("only %d /api routes found; the walk is broken", len(routed))
	}
}

// TestOpenAPIOperationsAreComplete: every operation says what it does,
// who may call it, whether it is audited, and which errors it can give,
// each in the one error shape: 401 and 403 for every protected one, 404
// where it names a thing by id, 400 where it takes input. Every list
// pages with the shared cursor and limit and answers next_cursor; every
// request body has an example (the route walk in the app tests sends it).
func TestOpenAPIOperationsAreComplete(t *testing.T) {
	_, ops := readDoc(t)
	roles := []string{"viewer", "steward", "organizer", "admin"}
	for name, op := range ops {
		if op.Summary == "" {
			t.Errorf("%s has no summary", name)
		}
		public := op.Security != nil && len(*op.Security) == 0
		var need []string
		if !public {
			if !slices.Contains(roles, op.Role) {
				t.Errorf("%s: x-role %q, want one of %v", name, op.Role, roles)
			}
			if op.Audited == nil {
				t.Errorf("%s: no x-audited", name)
			}
			if op.Steward && op.Role != "viewer" {
				t.Errorf("%s: x-steward opens a viewer's route to stewards; x-role is %q (a write stewards may make is x-role steward)", name, op.Role)
			}
			need = append(need, "401", "403")
		}
		if strings.Contains(name, "{id}") {
			need = append(need, "404")
		}
		if len(op.Parameters) > 0 || op.RequestBody != nil {
			need = append(need, "400")
		}
		for _, code := range need {
			if _, ok := op.Responses[code]; !ok {
				t.Errorf("%s does not list the %s it can answer", name, code)
			}
		}
		for code, resp := range op.Responses {
			if code[0] != '2' && resp.Ref != "#/components/responses/Error" {
				t.Errorf("%s: %s is not the one error shape (#/components/responses/Error)", name, code)
			}
		}
		var cursor, limit bool
		for _, p := range op.Parameters {
			cursor = cursor || p.Ref == "#/components/parameters/cursor"
			limit = limit || p.Ref == "#/components/parameters/limit"
		}
		_, paged := op.Responses["200"].Content["application/json"].Schema.Properties["next_cursor"]
		if paged != cursor || paged != limit {
			t.Errorf("%s: answers next_cursor %v, takes the shared cursor %v and limit %v; a list takes both and answers it", name, paged, cursor, limit)
		}
		if op.RequestBody != nil {
			for ct, c := range op.RequestBody.Content {
				if c.Example == nil && ct != "multipart/form-data" {
					t.Errorf("%s: the %s body has no example", name, ct)
				}
			}
		}
	}
}

// TestOpenAPIReferencesResolve: every $ref names a component that exists.
func TestOpenAPIReferencesResolve(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				var at any = doc
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := at.(map[string]any)
					at = m[part]
				}
				if at == nil {
					t.Errorf("$ref %s resolves to nothing", ref)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
}
