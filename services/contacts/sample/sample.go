// Package sample writes realistic member lists for tests and benchmarks:
// the headers organizers' spreadsheets have, valid and distinct US mobile
// numbers, a few worksites, employers and tags. It is deterministic, so a
// test can predict every row.
package sample

import (
	"bufio"
	"fmt"
	"io"
)

func pick(i int, list ...string) string { return list[i%len(list)] }

func worksite(i int) string {
	return pick(i, "North Clinic", "Harbor Hospital", "Eastside Crisis Center", "Valley Residential", "Midtown Outpatient")
}

func employer(i int) string { return pick(i, "Mercy Health", "County Behavioral", "Unity Care") }
func shift(i int) string    { return pick(i, "day", "evening", "night") }
func role(i int) string {
	return pick(i, "Counselor", "Peer Specialist", "Case Manager", "Psych Tech", "RN")
}
func language(i int) string { return pick(i, "en", "es", "en", "en", "ht") }
func first(i int) string {
	return pick(i, "Ana", "Bo", "Cy", "Dee", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jo", "Kai", "Lu")
}
func last(i int) string {
	return pick(i/12, "Ruiz", "Chen", "Okafor", "Smith", "Nguyen", "Haddad", "Kowalski", "Baptiste", "Lee")
}

// Header is the header row Write produces.
const Header = "Member ID,First Name,Last Name,Mobile,Email,Worksite,Employer,Job Title,Shift,Language,Tags,Time Zone"

// Phone is the E.164 number of row i (0-based): distinct for every i
// below 64 million and valid for libphonenumber.
func Phone(i int) string {
	areas := [...]int{212, 312, 415, 617, 202, 305, 404, 503, 612, 713, 206, 303, 702, 214, 602, 818}
	area := areas[i/4_000_000%len(areas)]
	exchange := 200 + i/10_000%400 // 200..599, never N11
	if exchange%100 == 11 {
		exchange += 100
	}
	return fmt.Sprintf("+1%d%d%04d", area, exchange, i%10_000)
}

// Email is the address of row i.
func Email(i int) string { return fmt.Sprintf("member%d@example.org", i) }

// MemberID is the member number of row i.
func MemberID(i int) string { return fmt.Sprintf("M%07d", i) }

// Worksite is row i's worksite.
func Worksite(i int) string { return worksite(i) }

// Tags are row i's tags: every row is "member"; every third is also
// "night-shift".
func Tags(i int) string {
	if i%3 == 0 {
		return "member; night-shift"
	}
	return "member"
}

// Write writes the header and rows from..to-1, phones typed the way
// people type them ("(212) 555-0134").
func Write(w io.Writer, from, to int) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := fmt.Fprintln(bw, Header); err != nil {
		return err
	}
	for i := from; i < to; i++ {
		p := Phone(i)
		_, err := fmt.Fprintf(bw, "%s,%s,%s,(%s) %s-%s,%s,%s,%s,%s,%s,%s,\"%s\",America/New_York\n",
			MemberID(i), first(i), last(i), p[2:5], p[5:8], p[8:], Email(i),
			worksite(i), employer(i), role(i), shift(i), language(i), Tags(i))
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}
