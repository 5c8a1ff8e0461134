package testkit

import "strings"

// FirstName is member i's first name, different for every i, as on a
// real list: benchmarks and tests that personalize by first name use it
// so that no two members' messages are the same.
func FirstName(i int) string {
	const syl = "bacadafagalamanapasatavazabecedefegelemenepesetevezebi"
	var sb strings.Builder
	for n := i + 27; n > 0; n /= 27 {
		k := n % 27 * 2
		sb.WriteString(syl[k : k+2])
	}
	s := sb.String()
	return strings.ToUpper(s[:1]) + s[1:]
}
