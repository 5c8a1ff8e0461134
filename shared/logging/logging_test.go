package logging

import "testing"

func TestRedaction(t *testing.T) {
	cases := []struct{ in, want string }{
		{"+15552013344", "**********44"},
		{"4", "*"},
		{"", ""},
	}
	for _, c := range cases {
		if got := RedactPhone(c.in); got != c.want {
			t.Errorf("RedactPhone(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := RedactEmail("ana.ruiz@local1199.org"); got != "a***@local1199.org" {
		t.Errorf("RedactEmail = %q", got)
	}
	if got := RedactEmail("nodomain"); got != "***" {
		t.Errorf("RedactEmail without @ = %q", got)
	}
}

func TestNewRejectsUnknownLevel(t *testing.T) {
	if _, err := New("x", true, "loud"); err == nil {
		t.Fatal("want an error for an unknown level")
	}
	log, err := New("x", false, "info")
	if err != nil || log == nil {
		t.Fatalf("New: %v", err)
	}
}
