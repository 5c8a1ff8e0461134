package testkit

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
)

// CallJSON sends a JSON request (body nil for none) and, when the answer
// is JSON and out is not nil, decodes it into out. It returns the status
// and the raw answer, for tests that check either.
func CallJSON(t testing.TB, method, url string, body, out any) (int, []byte) {
	t.Helper()
	return callJSON(t, http.DefaultClient, method, url, body, out)
}

// CallService is CallJSON to one of Muster's services, named service, as
// the test caller (svcauthtest) that a service under test trusts.
func CallService(t testing.TB, service, method, url string, body, out any) (int, []byte) {
	t.Helper()
	return callJSON(t, svcauthtest.Client(service), method, url, body, out)
}

func callJSON(t testing.TB, hc *http.Client, method, url string, body, out any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decoding %q: %v", method, url, raw, err)
		}
	}
	return resp.StatusCode, raw
}
