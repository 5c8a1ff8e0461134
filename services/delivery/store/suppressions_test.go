package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/testkit"
)

// The suppression list pages newest first: every entry once, however many
// were recorded at the same instant (the test clock stands still), with
// the search applied on every page, and a made-up position is refused.
func TestSuppressionsPage(t *testing.T) {
	ctx := context.Background()
	st := open(t, testkit.NewClock(t))
	for i := range 5 {
		for _, sup := range []store.Suppression{
			{Channel: "sms", Address: fmt.Sprintf("+1212555010%d", i), Reason: "STOP", Source: "member"},
			{Channel: "email", Address: fmt.Sprintf("m%d@example.org", i), Reason: "bounce", Source: "provider"},
		} {
			if _, err := st.Suppress(ctx, sup); err != nil {
				t.Fatal(err)
			}
		}
	}
	for search, want := range map[string]int{"": 10, "+1212": 5, "example": 5} {
		seen := map[string]bool{}
		after, pages := "", 0
		for {
			list, next, err := st.Suppressions(ctx, search, after, 3)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, s := range list {
				if seen[s.Channel+s.Address] {
					t.Fatalf("search %q: %s on two pages", search, s.Address)
				}
				seen[s.Channel+s.Address] = true
			}
			if next == "" || pages > 10 {
				break
			}
			after = next
		}
		if len(seen) != want {
			t.Errorf("search %q paged through %d entries, want %d", search, len(seen), want)
		}
	}
	if _, _, err := st.Suppressions(ctx, "", "yesterday", 3); apperr.KindOf(err) != apperr.KindInvalid {
		t.Errorf("a made-up position = %v, want invalid", err)
	}
}
