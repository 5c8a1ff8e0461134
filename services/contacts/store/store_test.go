package store

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/services/contacts/filter"
	"github.com/musterhq/muster/services/contacts/migrations"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/testkit"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, testkit.Database(t, migrations.FS), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return New(pool, testkit.NewClock(t).Now)
}

func pool(s *Store) *pgxpool.Pool { return s.pool }

func mustCreate(t *testing.T, s *Store, d contact.Draft) contact.Contact {
	t.Helper()
	c, err := d.Normalize("US")
	if err != nil {
		t.Fatal(err)
	}
	c, err = s.Create(context.Background(), c, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func consentEvent(ch events.Channel, addr, change, source string, at time.Time) events.ConsentChanged {
	return events.ConsentChanged{
		Meta:    events.NewMeta(events.TypeConsentChanged, events.VersionConsent, "", at),
		Channel: ch, Address: addr, Change: change, Source: source, Evidence: change, At: at,
	}
}

// fixture is a small list with every kind of field a filter reads.
func fixture(t *testing.T) *Store {
	t.Helper()
	s := newStore(t)
	mustCreate(t, s, contact.Draft{FirstName: "Ana", LastName: "Ruiz", Phone: "2125550101", Email: "ana@x.org", Language: "es",
		Tags: []string{"night-shift", "steward"}, Attributes: map[string]string{"worksite": "North Clinic", "employer": "Mercy", "unit": "4B"}})
	mustCreate(t, s, contact.Draft{FirstName: "Bo", LastName: "Chen", Phone: "2125550102", Language: "en",
		Tags: []string{"night-shift"}, Attributes: map[string]string{"worksite": "north clinic", "employer": "Unity"}})
	mustCreate(t, s, contact.Draft{FirstName: "Cy", LastName: "Okafor", Email: "cy@x.org", Language: "en",
		Tags: []string{"day"}, Attributes: map[string]string{"worksite": "Harbor Hospital", "unit": "12"}})
	mustCreate(t, s, contact.Draft{FirstName: "Dee", LastName: "Smith", Phone: "2125550104", Email: "dee@x.org", MemberID: "M-4",
		Tags: []string{"day", "100%_club"}, Attributes: map[string]string{"worksite": "Harbor%Hospital"}})
	if _, err := s.ApplyConsent(context.Background(), consentEvent(events.ChannelSMS, "+12125550102", events.ConsentOptedOut, events.SourceInboundSMS, time.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyConsent(context.Background(), consentEvent(events.ChannelEmail, "dee@x.org", events.ConsentBounced, events.SourceProvider, time.Now())); err != nil {
		t.Fatal(err)
	}
	return s
}

func names(list []contact.Contact) string {
	var out []string
	for _, c := range list {
		out = append(out, c.FirstName)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func TestFilters(t *testing.T) {
	s := fixture(t)
	ctx := context.Background()
	cases := []struct{ filter, want string }{
		{`{}`, "Ana,Bo,Cy,Dee"},
		{`{"tag": "Night-Shift"}`, "Ana,Bo"},
		{`{"tag": "100%_club"}`, "Dee"},
		{`{"all": [{"tag": "night-shift"}, {"field": "employer", "value": "mercy"}]}`, "Ana"},
		{`{"any": [{"tag": "steward"}, {"has": "member_id"}]}`, "Ana,Dee"},
		{`{"any": []}`, ""},
		{`{"not": {"tag": "night-shift"}}`, "Cy,Dee"},
		{`{"field": "worksite", "op": "eq", "value": "NORTH CLINIC"}`, "Ana,Bo"},
		{`{"field": "worksite", "op": "in", "value": ["Harbor Hospital", "nowhere"]}`, "Cy"},
		{`{"field": "worksite", "op": "prefix", "value": "harbor"}`, "Cy,Dee"},
		{`{"field": "worksite", "op": "prefix", "value": "Harbor%"}`, "Dee"},
		{`{"field": "worksite", "op": "prefix", "value": "Harbor_"}`, ""},
		{`{"field": "unit", "value": "4b"}`, "Ana"},
		{`{"field": "attributes.unit", "op": "in", "value": ["12", "4B"]}`, "Ana,Cy"},
		{`{"not": {"field": "unit", "value": "12"}}`, "Ana,Bo,Dee"},
		{`{"field": "unit", "value": ""}`, "Bo,Dee"},
		{`{"field": "language", "value": "ES"}`, "Ana"},
		{`{"field": "email", "value": "CY@X.ORG"}`, "Cy"},
		{`{"not": {"field": "phone", "value": "+12125550101"}}`, "Bo,Cy,Dee"},
		{`{"field": "member_id", "op": "prefix", "value": "m-"}`, "Dee"},
		{`{"has": "phone"}`, "Ana,Bo,Dee"},
		{`{"not": {"has": "email"}}`, "Bo"},
		{`{"has": "unit"}`, "Ana,Cy"},
		{`{"consent": {"channel": "sms", "status": "subscribed"}}`, "Ana,Dee"},
		{`{"consent": {"channel": "sms", "status": "opted_out"}}`, "Bo"},
		{`{"consent": {"channel": "email", "status": "subscribed"}}`, "Ana,Cy"},
		{`{"not": {"consent": {"channel": "email", "status": "opted_out"}}}`, "Ana,Bo,Cy"},
		{`{"text": "an"}`, "Ana"},
		{`{"text": "OKAF"}`, "Cy"},
		{`{"text": "a r"}`, "Ana"},
		{`{"text": "%"}`, ""},
	}
	for _, c := range cases {
		n, err := filter.Parse(json.RawMessage(c.filter))
		if err != nil {
			t.Fatalf("%s: %v", c.filter, err)
		}
		list, _, err := s.List(ctx, ListQuery{Filter: n, Limit: 100})
		if err != nil {
			t.Fatalf("%s: %v", c.filter, err)
		}
		if got := names(list); got != c.want {
			t.Errorf("%s matched %q, want %q", c.filter, got, c.want)
		}
		count, err := s.Count(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if count.Total != int64(len(list)) {
			t.Errorf("%s: count %d, list %d", c.filter, count.Total, len(list))
		}
	}
}

func TestCountSplitsByChannel(t *testing.T) {
	s := fixture(t)
	got, err := s.Count(context.Background(), filter.Everyone())
	if err != nil {
		t.Fatal(err)
	}
	want := events.AudienceCount{Total: 4,
		SMS:   events.ChannelCount{Reachable: 2, OptedOut: 1, NoAddress: 1}, // Bo opted out, Cy has no phone
		Email: events.ChannelCount{Reachable: 2, OptedOut: 1, NoAddress: 1}} // Dee bounced, Bo has no email
	if got != want {
		t.Errorf("count = %+v, want %+v", got, want)
	}
}

func TestAudiencePageExcludesUnreachable(t *testing.T) {
	s := fixture(t)
	ctx := context.Background()
	for _, c := range []struct {
		ch   events.Channel
		want string
	}{{events.ChannelSMS, "Ana,Dee"}, {events.ChannelEmail, "Ana,Cy"}} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			members, next, err := s.AudiencePage(ctx, filter.Everyone(), c.ch, after, 1)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range members {
				got = append(got, m.FirstName)
			}
			if next == "" {
				break
			}
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			after = next
		}
		sort.Strings(got)
		if strings.Join(got, ",") != c.want {
			t.Errorf("%s audience = %v, want %s", c.ch, got, c.want)
		}
	}
}

func TestListSortsAndPagesWithCursors(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	// Twelve contacts with names out of order and equal created_at for
	// some (one transaction), to exercise the id tie-break.
	for i, name := range []string{"lee", "Abe", "chen", "Baker", "abe", "Zed", "kim", "Diaz", "eve", "Fox", "gil", "Hu"} {
		mustCreate(t, s, contact.Draft{FirstName: fmt.Sprintf("F%02d", i), LastName: name, Phone: fmt.Sprintf("21255501%02d", i+10)})
	}
	_, err := pool(s).Exec(ctx, `UPDATE contacts SET created_at = '2026-01-01' WHERE last_name IN ('lee', 'chen', 'kim')`)
	if err != nil {
		t.Fatal(err)
	}
	collect := func(sortBy string, limit int) []string {
		var out []string
		cur := ""
		for range 20 {
			list, next, err := s.List(ctx, ListQuery{Filter: filter.Everyone(), Sort: sortBy, Cursor: cur, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range list {
				out = append(out, c.LastName)
			}
			if next == "" {
				return out
			}
			cur = next
		}
		t.Fatal("paging does not end")
		return nil
	}
	byName := collect(SortName, 5)
	if strings.Join(byName, ",") != "Abe,abe,Baker,chen,Diaz,eve,Fox,gil,Hu,kim,lee,Zed" &&
		strings.Join(byName, ",") != "abe,Abe,Baker,chen,Diaz,eve,Fox,gil,Hu,kim,lee,Zed" {
		t.Errorf("by name = %v", byName)
	}
	all := collect(SortCreated, 100)
	for _, limit := range []int{1, 2, 5} {
		if got := collect(SortCreated, limit); !reflect.DeepEqual(got, all) {
			t.Errorf("created, pages of %d = %v, want %v", limit, got, all)
		}
	}
	if strings.Join(all[:3], ",") != "lee,chen,kim" && !sameSet(all[:3], []string{"lee", "chen", "kim"}) {
		t.Errorf("oldest first = %v", all)
	}
	desc := collect(SortCreatedDesc, 4)
	for i := range desc {
		if desc[i] != all[len(all)-1-i] {
			t.Fatalf("newest first = %v, oldest first = %v", desc, all)
		}
	}
	if _, _, err := s.List(ctx, ListQuery{Sort: SortName, Cursor: "bm9wZQ"}); err == nil {
		t.Error("a forged cursor was accepted")
	}
	_, next, _ := s.List(ctx, ListQuery{Sort: SortCreated, Limit: 1})
	if _, _, err := s.List(ctx, ListQuery{Sort: SortName, Cursor: next}); err == nil {
		t.Error("a cursor of another sort order was accepted")
	}
}

func sameSet(a, b []string) bool {
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	return reflect.DeepEqual(a, b)
}

func TestBulkTags(t *testing.T) {
	s := fixture(t)
	ctx := context.Background()
	n, _ := filter.Parse(json.RawMessage(`{"field": "worksite", "value": "north clinic"}`))
	changed, err := s.BulkTags(ctx, n, []string{"rally", "night-shift"}, []string{"steward"})
	if err != nil || changed != 2 {
		t.Fatalf("changed = %d, %v; want 2", changed, err)
	}
	again, err := s.BulkTags(ctx, n, []string{"rally", "night-shift"}, []string{"steward"})
	if err != nil || again != 0 {
		t.Fatalf("repeating the change changed %d, %v; want 0", again, err)
	}
	list, _, _ := s.List(ctx, ListQuery{Filter: n})
	for _, c := range list {
		if !reflect.DeepEqual(c.Tags, []string{"night-shift", "rally"}) {
			t.Errorf("%s tags = %v, want [night-shift rally] (order kept, steward gone)", c.FirstName, c.Tags)
		}
	}
	others, _ := filter.Parse(json.RawMessage(`{"tag": "rally"}`))
	if c, _ := s.Count(ctx, others); c.Total != 2 {
		t.Errorf("%d contacts tagged rally, want 2", c.Total)
	}
}

// FuzzCompile checks that no value in a filter ever reaches the SQL text:
// every string the organizer wrote is a parameter, and the placeholders
// number exactly the parameters.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"x", "'; DROP TABLE contacts; --", "%_\\", "worksite", "a\x00b"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		const mark = "QZX9"
		a, b = mark+a, mark+b
		raw, _ := json.Marshal(map[string]any{"all": []any{
			map[string]any{"tag": a},
			map[string]any{"field": "worksite", "op": "eq", "value": b},
			map[string]any{"field": a, "op": "in", "value": []string{a, b}},
			map[string]any{"field": "unit", "op": "prefix", "value": b},
			map[string]any{"not": map[string]any{"text": a}},
			map[string]any{"has": b},
		}})
		n, err := filter.Parse(raw)
		if err != nil {
			return // too long, or names no field
		}
		args := &sqlArgs{}
		sql := compile(n, args)
		if strings.Contains(strings.ToUpper(sql), mark) {
			t.Fatalf("a value reached the SQL: %s", sql)
		}
		for i := 1; i <= len(args.list); i++ {
			if !strings.Contains(sql, fmt.Sprintf("$%d", i)) {
				t.Fatalf("parameter $%d unused in %s", i, sql)
			}
		}
		if strings.Contains(sql, fmt.Sprintf("$%d", len(args.list)+1)) {
			t.Fatalf("placeholder beyond the %d parameters in %s", len(args.list), sql)
		}
	})
}
