package account

import (
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestRolesAreOrdered(t *testing.T) {
	for _, c := range []struct {
		have, need Role
		ok         bool
	}{
		{RoleAdmin, RoleOrganizer, true}, {RoleAdmin, RoleViewer, true}, {RoleOrganizer, RoleOrganizer, true},
		{RoleOrganizer, RoleAdmin, false}, {RoleViewer, RoleOrganizer, false}, {RoleViewer, RoleViewer, true},
		{Role("root"), RoleViewer, false}, {RoleAdmin, Role(""), false},
	} {
		if got := c.have.Allows(c.need); got != c.ok {
			t.Errorf("%q allows %q = %v, want %v", c.have, c.need, got, c.ok)
		}
	}
	if _, err := ParseRole("root"); err == nil {
		t.Error("ParseRole(root) accepted")
	}
}

func TestPasswords(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !PasswordMatches(h, "correct horse battery") || PasswordMatches(h, "wrong horse battery") {
		t.Error("password check is wrong")
	}
	if PasswordMatches("", "anything") {
		t.Error("an empty hash matched")
	}
	if CheckNewPassword("short") == nil {
		t.Error("a short password was accepted")
	}
}

func TestParseEmail(t *testing.T) {
	if e, err := ParseEmail("  Ana@Example.ORG "); err != nil || e != "ana@example.org" {
		t.Errorf("ParseEmail = %q, %v", e, err)
	}
	for _, bad := range []string{"", "ana", "Ana <ana@example.org>", "a@b@c"} {
		if _, err := ParseEmail(bad); err == nil {
			t.Errorf("ParseEmail(%q) accepted", bad)
		}
	}
}

func TestDummyHashCostsLikeARealOne(t *testing.T) {
	cost, err := bcrypt.Cost([]byte(dummyHash))
	if err != nil || cost != bcrypt.DefaultCost {
		t.Fatalf("dummy hash cost = %d, %v; want %d so unknown emails take as long", cost, err, bcrypt.DefaultCost)
	}
}
