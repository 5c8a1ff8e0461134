package secret

import (
	"bytes"
	"strings"
	"testing"
)

func TestCheckRefusesMissingShortAndDevelopmentValues(t *testing.T) {
	good := Generate()
	for _, tt := range []struct {
		value string
		dev   bool
		want  string // "" accepts
	}{
		{"", false, "is required"},
		{"short", false, "at least"},
		{"dev-only-link-secret-do-not-use-in-production", false, "development value"},
		{"test-secret-test-secret-test-secret", false, "development value"},
		{"muster-dev-password-muster-dev-password", false, "development value"},
		{good, false, ""},
		{"", true, ""},
		{"dev-only-link-secret-do-not-use-in-production", true, ""},
	} {
		err := Check("X_SECRET", tt.value, MinLength, tt.dev)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Check(%q, dev %v) = %v, want accepted", tt.value, tt.dev, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "X_SECRET")):
			t.Errorf("Check(%q, dev %v) = %v, want an error naming X_SECRET and saying %q", tt.value, tt.dev, err, tt.want)
		}
	}
}

func TestGeneratedSecretsPassAndDiffer(t *testing.T) {
	a, b := Generate(), Generate()
	if a == b || len(a) < MinLength || IsDevelopmentValue(a) {
		t.Fatalf("generated %q and %q", a, b)
	}
}

func TestKeyringFindsEveryKeyByIDAndSignsWithTheCurrent(t *testing.T) {
	cur, old := []byte(Generate()), []byte(Generate())
	k, err := NewKeyring(cur, old)
	if err != nil {
		t.Fatal(err)
	}
	id, key := k.Current()
	if id != IDOf(cur) || !bytes.Equal(key, cur) {
		t.Fatal("the current key is not the first")
	}
	if got, ok := k.Lookup(IDOf(old)); !ok || !bytes.Equal(got, old) {
		t.Fatal("the previous key is not found by its id")
	}
	if _, ok := k.Lookup(IDOf([]byte(Generate()))); ok {
		t.Fatal("an unknown id found a key")
	}
	if _, err := NewKeyring(cur, cur); err == nil {
		t.Fatal("a key listed twice was accepted")
	}
	if _, err := NewKeyring([]byte("short")); err == nil {
		t.Fatal("a short key was accepted")
	}
	if got := SplitList(" a , ,b"); len(got) != 2 || string(got[0]) != "a" || string(got[1]) != "b" {
		t.Fatalf("SplitList = %q", got)
	}
}
