package testkit

import "testing"

func TestFirstNamesAreAllDifferent(t *testing.T) {
	seen := map[string]int{}
	for i := range 200_000 {
		n := FirstName(i)
		if j, ok := seen[n]; ok {
			t.Fatalf("members %d and %d are both %q", j, i, n)
		}
		seen[n] = i
	}
}
