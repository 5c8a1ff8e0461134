package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/svcauth"
)

// TestOperatorToken: the key make run writes is the operator the services
// trust, readable by its owner alone, and `devstack token` signs for the
// service asked.
func TestOperatorToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", operatorKeyFile)
	entry, err := newOperatorKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("operator key file: %v %v", fi, err)
	}
	trusted, err := svcauth.ParseTrusted(entry)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := svcauth.NewVerifier("contacts", trusted, time.Now)
	tok, err := operatorToken(path, "contacts")
	if err != nil {
		t.Fatal(err)
	}
	if caller, err := v.Verify(tok); err != nil || caller != "operator" {
		t.Errorf("Verify = %q, %v", caller, err)
	}
	other, _ := operatorToken(path, "delivery")
	if _, err := v.Verify(other); err == nil {
		t.Error("a token for delivery opened contacts")
	}
	if _, err := operatorToken(path, "Not A Service"); err == nil {
		t.Error("token for a bad service name")
	}
}
