package contact_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// A contact as the public API takes it (create, and an edit applied to a
// stored contact): accepted or refused as invalid, never a panic or an
// internal failure.
func FuzzContactFromJSON(f *testing.F) {
	for _, seed := range []string{
		`{"first_name":"Ana","phone":"(212) 555-0101","email":"Ana@Union.org","tags":["rally"],"attributes":{"worksite":"North"}}`,
		`{"phone":"+44 20 7946 0958","time_zone":"Europe/London","language":"es"}`,
		`{"email":"not an email"}`, `{"phone":"12"}`, `{"tags":[1]}`, `{"attributes":{"x":{"y":1}}}`, `{}`, `null`, `[1]`,
	} {
		f.Add(seed)
	}
	stored := contact.Contact{ID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", FirstName: "Bo", Phone: "+12125550102"}
	f.Fuzz(func(t *testing.T, body string) {
		var d contact.Draft
		err := web.DecodeJSON(httptest.NewRequest("POST", "/contacts", strings.NewReader(body)), &d)
		if err == nil {
			_, err = d.Normalize("US")
		}
		if err != nil && apperr.KindOf(err) != apperr.KindInvalid {
			t.Fatalf("draft %q: %v (kind %s), want nil or invalid", body, err, apperr.KindOf(err))
		}
		var p contact.Patch
		err = web.DecodeJSON(httptest.NewRequest("PATCH", "/contacts/x", strings.NewReader(body)), &p)
		if err == nil {
			_, err = p.Apply(stored, "US")
		}
		if err != nil && apperr.KindOf(err) != apperr.KindInvalid {
			t.Fatalf("patch %q: %v (kind %s), want nil or invalid", body, err, apperr.KindOf(err))
		}
	})
}
