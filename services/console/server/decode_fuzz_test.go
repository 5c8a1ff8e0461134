package server

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// The console's own JSON requests (tokens, access changes): decoded or
// refused as invalid input, never a panic or an internal failure.
func FuzzConsoleRequestsFromJSON(f *testing.F) {
	for _, seed := range []string{
		`{"name":"bot","role":"viewer","ttl_days":30}`, `{"role":"admin"}`, `{"disabled":true}`, `{"role":null,"disabled":"yes"}`,
		`{"ttl_days":-1}`, `{"ttl_days":1e99}`, `{}`, `[]`, `"x"`, `{"name":"a","extra":1}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, v := range []any{&tokenRequest{}, &accessRequest{}} {
			err := web.DecodeJSON(httptest.NewRequest("POST", "/api/x", strings.NewReader(body)), v)
			if err != nil && apperr.KindOf(err) != apperr.KindInvalid {
				t.Fatalf("%T from %q: %v (kind %s), want nil or invalid", v, body, err, apperr.KindOf(err))
			}
		}
	})
}
