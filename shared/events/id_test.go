package events

import (
	"regexp"
	"testing"
)

// IsID is the regular expression the services used to copy, and IsUUID
// the same in either case.
func TestIDFormats(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	reAnyCase := regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	for _, s := range []string{
		"", "0195f3c2-7d4e-7a3b-9c1d-2e3f4a5b6c7d", "0195F3C2-7D4E-7A3B-9C1D-2E3F4A5B6C7D", "0195f3c2-7d4e-7a3b-9c1d-2e3f4a5b6c7",
		"0195f3c27d4e-7a3b-9c1d-2e3f4a5b6c7d0", "0195f3c2-7d4e-7a3b-9c1d-2e3f4a5b6c7g", "0195f3c2-7d4e-7a3b-9c1d-2e3f4a5b6c7d\n",
		"{0195f3c2-7d4e-7a3b-9c1d-2e3f4a5b6c7}", "c.0195f3c2-7d4e-7a3b-9c1d-2e3f4a5b6c7d", "0195f3c2_7d4e_7a3b_9c1d_2e3f4a5b6c7d",
	} {
		if got, want := IsID(s), re.MatchString(s); got != want {
			t.Errorf("IsID(%q) = %v, want %v", s, got, want)
		}
		if got, want := IsUUID(s), reAnyCase.MatchString(s); got != want {
			t.Errorf("IsUUID(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestStatusRankOrdersTheLife(t *testing.T) {
	order := []string{StatusQueued, StatusSending, StatusUnknown, StatusAccepted, StatusSent, StatusDelivered}
	for i := 1; i < len(order); i++ {
		a, _ := StatusRank(order[i-1])
		b, _ := StatusRank(order[i])
		if a >= b {
			t.Errorf("%s (%d) does not rank below %s (%d)", order[i-1], a, order[i], b)
		}
	}
	for _, s := range []string{StatusDelivered, StatusUndelivered, StatusFailed, StatusSuppressed, StatusExpired, StatusCancelled} {
		if r, ok := StatusRank(s); !ok || r != RankTerminal {
			t.Errorf("%s ranks %d, %v; want terminal", s, r, ok)
		}
	}
	if _, ok := StatusRank("read"); ok {
		t.Error("a provider's status ranked as ours")
	}
}
