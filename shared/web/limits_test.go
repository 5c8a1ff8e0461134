package web

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"
)

// A JSON body over MaxJSONBody is answered 413 in the JSON error shape;
// one just under it is read.
func TestTooLargeJSONBodyIs413(t *testing.T) {
	routes := chi.NewRouter()
	routes.Post("/things", func(w http.ResponseWriter, r *http.Request) {
		var v struct {
			Name string `json:"name"`
		}
		if err := DecodeJSON(r, &v); err != nil {
			WriteError(w, r, zap.NewNop(), err)
			return
		}
		WriteJSON(w, http.StatusCreated, map[string]int{"name_bytes": len(v.Name)})
	})
	srv := startServer(t, routes, nil)
	post := func(n int) (int, ErrorBody) {
		t.Helper()
		body := `{"name":"` + strings.Repeat("a", n) + `"}`
		resp, err := http.Post(srv.URL()+"/things", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var eb ErrorBody
		raw, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(raw, &eb) != nil {
			t.Fatalf("answer is not JSON: %s", raw)
		}
		return resp.StatusCode, eb
	}
	if code, eb := post(MaxJSONBody + 1); code != http.StatusRequestEntityTooLarge || eb.Kind != "too_large" || eb.Field != "body" || eb.Error == "" {
		t.Errorf("too large = %d %+v, want 413 too_large", code, eb)
	}
	if code, _ := post(MaxJSONBody - 100); code != http.StatusCreated {
		t.Errorf("just under the limit = %d, want 201", code)
	}
}
