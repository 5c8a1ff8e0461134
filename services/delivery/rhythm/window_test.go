package rhythm

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/musterhq/muster/services/delivery/quiet"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func win(s string) *quiet.Window {
	w, err := quiet.Parse(s)
	if err != nil {
		panic(err)
	}
	return &w
}

func texas() *StateRule {
	r := &StateRule{State: "TX"}
	for d := range r.Windows {
		r.Windows[d] = *win("09:00-21:00")
	}
	r.Windows[time.Sunday] = *win("12:00-21:00")
	return r
}

func florida() *StateRule {
	r := &StateRule{State: "FL", MaxPer24h: 3}
	for d := range r.Windows {
		r.Windows[d] = *win("08:00-20:00")
	}
	return r
}

// TestNext is the window arithmetic, in one table: each case is a moment
// in a member's zone, their limits, and when a text may go and why.
func TestNext(t *testing.T) {
	ny, chicago, la := zone(t, "America/New_York"), zone(t, "America/Chicago"), zone(t, "America/Los_Angeles")
	kathmandu := zone(t, "Asia/Kathmandu")
	at := func(loc *time.Location, y int, m time.Month, d, h, min int) time.Time {
		return time.Date(y, m, d, h, min, 0, 0, loc)
	}
	cases := []struct {
		name    string
		now     time.Time
		zones   []*time.Location
		limits  Limits
		minOpen time.Duration
		want    time.Time
		open    time.Duration
		reason  string
	}{
		{name: "inside the organization's window goes now",
			now: at(ny, 2026, 12, 2, 10, 0), zones: []*time.Location{ny}, limits: Limits{Org: quiet.Default},
			want: at(ny, 2026, 12, 2, 10, 0), open: 11 * time.Hour},
		{name: "late evening waits for the morning",
			now: at(ny, 2026, 12, 2, 22, 30), zones: []*time.Location{ny}, limits: Limits{Org: quiet.Default},
			want: at(ny, 2026, 12, 3, 8, 0), open: 13 * time.Hour, reason: ReasonQuietHours},
		{name: "NIGHTS at 10:00 waits for 16:00 the same day",
			now: at(chicago, 2026, 12, 2, 10, 0), zones: []*time.Location{chicago}, limits: Limits{Org: quiet.Default, Member: win("16:00-21:00")},
			want: at(chicago, 2026, 12, 2, 16, 0), open: 5 * time.Hour, reason: ReasonMemberWindow},
		{name: "NIGHTS at 22:00 waits for 16:00 the next day, the member's window binding",
			now: at(chicago, 2026, 12, 2, 22, 0), zones: []*time.Location{chicago}, limits: Limits{Org: quiet.Default, Member: win("16:00-21:00")},
			want: at(chicago, 2026, 12, 3, 16, 0), open: 5 * time.Hour, reason: ReasonMemberWindow},
		{name: "Texas on a Sunday morning waits for noon",
			now: at(chicago, 2026, 12, 6, 10, 0), zones: []*time.Location{chicago}, limits: Limits{Org: quiet.Default, State: texas()},
			want: at(chicago, 2026, 12, 6, 12, 0), open: 9 * time.Hour, reason: ReasonStateRule},
		{name: "Texas on a Saturday at 08:30 waits for 09:00",
			now: at(chicago, 2026, 12, 5, 8, 30), zones: []*time.Location{chicago}, limits: Limits{Org: quiet.Default, State: texas()},
			want: at(chicago, 2026, 12, 5, 9, 0), open: 12 * time.Hour, reason: ReasonStateRule},
		{name: "Texas on a Saturday night waits for Sunday noon, not 09:00",
			now: at(chicago, 2026, 12, 5, 21, 30), zones: []*time.Location{chicago}, limits: Limits{Org: quiet.Default, State: texas()},
			want: at(chicago, 2026, 12, 6, 12, 0), open: 9 * time.Hour, reason: ReasonStateRule},
		{name: "Florida closes at 20:00",
			now: at(ny, 2026, 12, 2, 20, 15), zones: []*time.Location{ny}, limits: Limits{Org: quiet.Default, State: florida()},
			want: at(ny, 2026, 12, 3, 8, 0), open: 12 * time.Hour, reason: ReasonStateRule},
		{name: "a member narrower than Florida: 18:00-19:00 inside 08:00-20:00",
			now: at(ny, 2026, 12, 2, 19, 30), zones: []*time.Location{ny}, limits: Limits{Org: quiet.Default, State: florida(), Member: win("18:00-19:00")},
			want: at(ny, 2026, 12, 3, 18, 0), open: time.Hour, reason: ReasonMemberWindow},
		{name: "NIGHTS in Florida ends at 20:00",
			now: at(ny, 2026, 12, 2, 19, 0), zones: []*time.Location{ny}, limits: Limits{Org: quiet.Default, State: florida(), Member: win("16:00-21:00")},
			want: at(ny, 2026, 12, 2, 19, 0), open: time.Hour},
		{name: "too little of the window left waits for the next day's",
			now: at(ny, 2026, 12, 2, 20, 59), zones: []*time.Location{ny}, limits: Limits{Org: quiet.Default}, minOpen: 2 * time.Minute,
			want: at(ny, 2026, 12, 3, 8, 0), open: 13 * time.Hour, reason: ReasonQuietHours},
		{name: "a pause holds past open windows, then the next opening",
			now: at(ny, 2026, 12, 2, 10, 0), zones: []*time.Location{ny},
			limits: Limits{Org: quiet.Default, PausedUntil: at(ny, 2026, 12, 9, 7, 0)},
			want:   at(ny, 2026, 12, 9, 8, 0), open: 13 * time.Hour, reason: ReasonPause},
		{name: "a pause ending inside the window opens then",
			now: at(ny, 2026, 12, 2, 10, 0), zones: []*time.Location{ny},
			limits: Limits{Org: quiet.Default, PausedUntil: at(ny, 2026, 12, 4, 10, 0)},
			want:   at(ny, 2026, 12, 4, 10, 0), open: 11 * time.Hour, reason: ReasonPause},
		{name: "a pause that has ended holds nothing",
			now: at(ny, 2026, 12, 2, 10, 0), zones: []*time.Location{ny},
			limits: Limits{Org: quiet.Default, PausedUntil: at(ny, 2026, 12, 1, 10, 0)},
			want:   at(ny, 2026, 12, 2, 10, 0), open: 11 * time.Hour},
		{name: "two candidate zones: the hours both agree on",
			now: at(ny, 2026, 12, 2, 9, 0), zones: []*time.Location{ny, la}, limits: Limits{Org: quiet.Default, Member: win("16:00-21:00")},
			// 16:00 in Los Angeles is 19:00 in New York; New York closes at 21:00.
			want: at(la, 2026, 12, 2, 16, 0), open: 2 * time.Hour, reason: ReasonMemberWindow},
		{name: "a zone with a 45-minute offset",
			now: time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC), zones: []*time.Location{kathmandu}, limits: Limits{Org: quiet.Default, Member: win("16:00-21:00")},
			want: at(kathmandu, 2026, 12, 2, 16, 0), open: 5 * time.Hour, reason: ReasonMemberWindow},
		// Spring forward: 2027-03-14 02:00 EST becomes 03:00 EDT.
		{name: "spring forward: 08:00 is 08:00 daylight time",
			now: time.Date(2027, 3, 14, 6, 30, 0, 0, time.UTC), zones: []*time.Location{ny}, limits: Limits{Org: quiet.Default},
			want: time.Date(2027, 3, 14, 12, 0, 0, 0, time.UTC), open: 13 * time.Hour, reason: ReasonQuietHours},
		{name: "spring forward with NIGHTS, from the night before",
			now: at(ny, 2027, 3, 13, 21, 30), zones: []*time.Location{ny}, limits: Limits{Org: quiet.Default, Member: win("16:00-21:00")},
			want: time.Date(2027, 3, 14, 20, 0, 0, 0, time.UTC), open: 5 * time.Hour, reason: ReasonMemberWindow},
		// Fall back: 2026-11-01 02:00 EDT becomes 01:00 EST.
		{name: "fall back: 08:00 is 08:00 standard time",
			now: time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC), zones: []*time.Location{ny}, limits: Limits{Org: quiet.Default},
			want: time.Date(2026, 11, 1, 13, 0, 0, 0, time.UTC), open: 13 * time.Hour, reason: ReasonQuietHours},
		{name: "fall back: the night is an hour longer in real time",
			now: at(ny, 2026, 10, 31, 21, 0), zones: []*time.Location{ny}, limits: Limits{Org: quiet.Default},
			want: at(ny, 2026, 11, 1, 8, 0), open: 13 * time.Hour, reason: ReasonQuietHours},
		{name: "a member's window that never meets the state's finds nothing",
			now: at(ny, 2026, 12, 2, 10, 0), zones: []*time.Location{ny}, limits: Limits{Org: quiet.Default, State: florida(), Member: win("20:00-21:00")},
			want: at(ny, 2026, 12, 3, 10, 0), reason: ReasonMemberWindow},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.limits.Next(c.now, c.zones, c.minOpen)
			if !got.At.Equal(c.want) || got.Open != c.open || got.Reason != c.reason {
				t.Fatalf("Next(%s) = %s open %s reason %q; want %s open %s reason %q",
					c.now, got.At, got.Open, got.Reason, c.want, c.open, c.reason)
			}
			if got.Found == (c.name == "a member's window that never meets the state's finds nothing") {
				t.Fatalf("found = %v", got.Found)
			}
		})
	}
}

// A meeting reminder deferred past the meeting is of no use: the opening
// says when it could go, and the caller compares it with NotAfter.
func TestOpeningAfterTheEvent(t *testing.T) {
	ny := zone(t, "America/New_York")
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, ny)
	meeting := time.Date(2026, 12, 2, 15, 0, 0, 0, ny)
	o := Limits{Org: quiet.Default, Member: win("16:00-21:00")}.Next(now, []*time.Location{ny}, 0)
	if !Late(o.At, meeting) {
		t.Fatalf("opening %s before a meeting at %s?", o.At, meeting)
	}
	if Late(now, meeting) || Late(o.At, time.Time{}) {
		t.Fatal("a text that can go before the event, or one with no event, is not late")
	}
}

func TestStateOf(t *testing.T) {
	for _, c := range []struct{ given, phone, want string }{
		{"", "+12145550100", "TX"},
		{"", "+13055550100", "FL"},
		{"", "+12065550100", "WA"},
		{"", "+14105550100", "MD"},
		{"", "+14055550100", "OK"},
		{"", "+12125550100", "NY"},
		{"ca", "+12145550100", "CA"}, // the contact's state wins over the area code
		{"", "+18005550100", ""},     // toll-free: no state
		{"", "+16475550100", ""},     // Toronto
		{"", "+447700900123", ""},
		{"", "not a number", ""},
	} {
		if got := StateOf(c.given, c.phone); got != c.want {
			t.Errorf("StateOf(%q, %q) = %q, want %q", c.given, c.phone, got, c.want)
		}
	}
}

// TestAreaCodesMatchLibphonenumber holds areacodes.csv to the geocoding
// data it was read from, so an upgrade of the library that moves an area
// code shows here.
func TestAreaCodesMatchLibphonenumber(t *testing.T) {
	names := map[string]string{"Washington State": "WA", "Washington D.C.": "DC"}
	for _, line := range strings.Split(usStates, ",") {
		code, name, _ := strings.Cut(line, "=")
		names[name] = code
	}
	sc := bufio.NewScanner(bytes.NewReader(areaCodesCSV))
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		npa, state, _ := strings.Cut(line, ",")
		num, err := phonenumbers.Parse(fmt.Sprintf("+1%s2345678", npa), "")
		if err != nil {
			t.Fatalf("%s: %v", npa, err)
		}
		g, _ := phonenumbers.GetGeocodingForNumber(num, "en")
		want := names[g]
		if i := strings.LastIndex(g, ", "); want == "" && i >= 0 {
			want = g[i+2:]
		}
		if want != state {
			t.Errorf("area code %s: file says %s, libphonenumber %q", npa, state, g)
		}
		n++
	}
	if n < 300 {
		t.Fatalf("only %d area codes", n)
	}
}

const usStates = "AL=Alabama,AK=Alaska,AZ=Arizona,AR=Arkansas,CA=California,CO=Colorado,CT=Connecticut,DE=Delaware," +
	"FL=Florida,GA=Georgia,HI=Hawaii,ID=Idaho,IL=Illinois,IN=Indiana,IA=Iowa,KS=Kansas,KY=Kentucky,LA=Louisiana," +
	"ME=Maine,MD=Maryland,MA=Massachusetts,MI=Michigan,MN=Minnesota,MS=Mississippi,MO=Missouri,MT=Montana," +
	"NE=Nebraska,NV=Nevada,NH=New Hampshire,NJ=New Jersey,NM=New Mexico,NY=New York,NC=North Carolina," +
	"ND=North Dakota,OH=Ohio,OK=Oklahoma,OR=Oregon,PA=Pennsylvania,RI=Rhode Island,SC=South Carolina," +
	"SD=South Dakota,TN=Tennessee,TX=Texas,UT=Utah,VT=Vermont,VA=Virginia,WV=West Virginia,WI=Wisconsin,WY=Wyoming"
