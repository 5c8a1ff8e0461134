package store_test

import (
	"testing"

	"github.com/musterhq/muster/shared/testkit"
)

// Every time the store writes or compares comes from the service's clock,
// never from PostgreSQL's (docs/delivery.md, "One clock").
func TestStatementsReadNoDatabaseClock(t *testing.T) {
	testkit.NoDatabaseClock(t, ".")
}
