package server

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIPTrustsOnlyConfiguredProxies(t *testing.T) {
	s := &Server{Deps: Deps{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	cases := []struct {
		name, peer, xff, want string
	}{
		{"direct client", "203.0.113.7:5000", "", "203.0.113.7"},
		{"direct client forging the header", "203.0.113.7:5000", "198.51.100.1", "203.0.113.7"},
		{"through the ingress", "10.1.2.3:443", "198.51.100.9", "198.51.100.9"},
		{"client prepends a forged hop", "10.1.2.3:443", "1.2.3.4, 198.51.100.9", "198.51.100.9"},
		{"two trusted hops", "10.1.2.3:443", "198.51.100.9, 10.9.9.9", "198.51.100.9"},
		{"ingress without the header", "10.1.2.3:443", "", "10.1.2.3"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/signin", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := s.clientIP(r); got != c.want {
			t.Errorf("%s: clientIP = %s, want %s", c.name, got, c.want)
		}
	}
}
