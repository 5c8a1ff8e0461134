package status

import "testing"

func TestCanMoveOnlyForward(t *testing.T) {
	cases := []struct {
		from, to Status
		want     bool
	}{
		{Queued, Sending, true},
		{Sending, Accepted, true},
		{Sending, Unknown, true},
		{Unknown, Delivered, true},
		{Accepted, Sent, true},
		{Sent, Delivered, true},
		{Delivered, Sent, false},
		{Delivered, Failed, false},
		{Failed, Delivered, false},
		{Sent, Accepted, false},
		{Sent, Sent, false},
		{Queued, Suppressed, true},
		{Suppressed, Sending, false},
	}
	for _, c := range cases {
		if got := CanMove(c.from, c.to); got != c.want {
			t.Errorf("CanMove(%s, %s) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}

func TestParseRefusesUnknownStatuses(t *testing.T) {
	if _, err := Parse("bogus"); err == nil {
		t.Error("Parse accepted an unknown status")
	}
	if st, err := Parse("delivered"); err != nil || st != Delivered {
		t.Errorf("Parse(delivered) = %q, %v", st, err)
	}
}
