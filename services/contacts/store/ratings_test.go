package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/services/contacts/filter"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/testkit"
)

// ratedStore is a store whose clock the test moves, and its contacts by
// first name.
func ratedStore(t *testing.T) (*Store, *testkit.Clock, map[string]contact.Contact) {
	t.Helper()
	ctx := context.Background()
	clock := testkit.NewClock(t)
	s := fixture(t)
	s.now = clock.Now
	list, _, err := s.List(ctx, ListQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]contact.Contact{}
	for _, c := range list {
		by[c.FirstName] = c
	}
	return s, clock, by
}

func TestRateKeepsHistoryAndTheLatest(t *testing.T) {
	s, clock, by := ratedStore(t)
	ctx := context.Background()
	ana := by["Ana"].ID
	if _, err := s.Rate(ctx, ana, 3, "Olga Organizer", "unsure about dues"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	r, err := s.Rate(ctx, ana, 1, "Sam Steward", "")
	if err != nil {
		t.Fatal(err)
	}
	if d := clock.Now().Sub(r.RatedAt); r.Rating != 1 || r.Label != "1 · Leader" || r.RatedBy != "Sam Steward" || d < 0 || d > time.Minute {
		t.Errorf("rating = %+v", r)
	}
	c, err := s.Get(ctx, ana)
	if err != nil {
		t.Fatal(err)
	}
	if c.Rating == nil || c.Rating.Rating != 1 || c.Rating.RatedBy != "Sam Steward" || !c.Rating.RatedAt.Equal(r.RatedAt) {
		t.Errorf("contact's latest rating = %+v", c.Rating)
	}
	hist, err := s.Ratings(ctx, ana, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Rating != 1 || hist[1].Rating != 3 || hist[1].Note != "unsure about dues" || !hist[0].RatedAt.After(hist[1].RatedAt) {
		t.Errorf("history (newest first) = %+v", hist)
	}
	if b, _ := s.Get(ctx, by["Bo"].ID); b.Rating != nil {
		t.Errorf("Bo was never rated, has %+v", b.Rating)
	}
}

func TestRateRefusesBadInput(t *testing.T) {
	s, _, by := ratedStore(t)
	ctx := context.Background()
	for _, level := range []int{0, 6, -1} {
		if _, err := s.Rate(ctx, by["Ana"].ID, level, "Olga", ""); apperr.KindOf(err) != apperr.KindInvalid || apperr.FieldOf(err) != "rating" {
			t.Errorf("rating %d: %v, want invalid rating", level, err)
		}
	}
	if _, err := s.Rate(ctx, by["Ana"].ID, 2, " ", ""); apperr.KindOf(err) != apperr.KindInvalid {
		t.Errorf("no rater: %v", err)
	}
	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "nope"} {
		if _, err := s.Rate(ctx, id, 2, "Olga", ""); apperr.KindOf(err) != apperr.KindNotFound {
			t.Errorf("missing contact %s: %v, want not found", id, err)
		}
		if _, err := s.Ratings(ctx, id, 10); apperr.KindOf(err) != apperr.KindNotFound {
			t.Errorf("history of missing contact %s: %v, want not found", id, err)
		}
	}
	if _, err := s.RateMany(ctx, nil, []string{by["Ana"].ID}, 6, "Olga", ""); apperr.KindOf(err) != apperr.KindInvalid {
		t.Errorf("bulk rating 6: %v", err)
	}
	if _, err := s.RateMany(ctx, nil, nil, 2, "Olga", ""); apperr.KindOf(err) != apperr.KindInvalid {
		t.Errorf("bulk with nobody: %v", err)
	}
	if hist, _ := s.Ratings(ctx, by["Ana"].ID, 10); len(hist) != 0 {
		t.Errorf("refused ratings were kept: %+v", hist)
	}
}

func TestRateManyAndFilterByRating(t *testing.T) {
	s, clock, by := ratedStore(t)
	ctx := context.Background()
	ids, err := s.RateMany(ctx, nil, []string{by["Ana"].ID, by["Bo"].ID, "00000000-0000-0000-0000-000000000000"}, 2, "Olga", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 {
		t.Errorf("rated %v, want Ana and Bo", ids)
	}
	clock.Advance(time.Minute)
	n, _ := filter.Parse(json.RawMessage(`{"field": "worksite", "value": "harbor hospital"}`))
	if ids, err = s.RateMany(ctx, &n, nil, 5, "Olga", ""); err != nil || len(ids) != 1 || ids[0] != by["Cy"].ID {
		t.Fatalf("rating by filter: %v %v", ids, err)
	}
	for _, c := range []struct{ filter, want string }{
		{`{"rating": {"op": "lte", "value": 2}}`, "Ana,Bo"},
		{`{"rating": {"value": 2}}`, "Ana,Bo"},
		{`{"rating": {"op": "gte", "value": 3}}`, "Cy"},
		{`{"rating": {"op": "eq", "value": 1}}`, ""},
		{`{"unassessed": true}`, "Dee"},
		{`{"not": {"unassessed": true}}`, "Ana,Bo,Cy"},
		{`{"not": {"rating": {"op": "lte", "value": 2}}}`, "Cy,Dee"},
		{`{"any": [{"unassessed": true}, {"rating": {"op": "gte", "value": 4}}]}`, "Cy,Dee"},
	} {
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
		if err != nil || count.Total != int64(len(list)) {
			t.Errorf("%s: count %+v %v, list %d", c.filter, count, err, len(list))
		}
	}
	hist, err := s.Ratings(ctx, by["Bo"].ID, 10)
	if err != nil || len(hist) != 1 || hist[0].RatedBy != "Olga" {
		t.Errorf("Bo's history after a bulk rating: %+v %v", hist, err)
	}
}

func TestChartCountsPerGroupAndLevel(t *testing.T) {
	s, _, by := ratedStore(t)
	ctx := context.Background()
	if _, err := s.Rate(ctx, by["Ana"].ID, 1, "Olga", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rate(ctx, by["Cy"].ID, 4, "Olga", ""); err != nil {
		t.Fatal(err)
	}
	chart, err := s.Chart(ctx, filter.Everyone(), []string{"worksite"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ChartGroup{}
	for _, g := range chart.Groups {
		got[g.Keys[0]] = g
	}
	if len(chart.Groups) != 4 { // "North Clinic" and "north clinic" are kept as typed
		t.Fatalf("groups = %+v", chart.Groups)
	}
	if g := got["North Clinic"]; g.Levels != [5]int64{1, 0, 0, 0, 0} || g.Unassessed != 0 || g.Total != 1 || len(g.Members) != 1 || g.Members[0].Rating != 1 {
		t.Errorf("North Clinic = %+v", g)
	}
	if g := got["Harbor Hospital"]; g.Levels != [5]int64{0, 0, 0, 1, 0} || g.Members[0].FirstName != "Cy" {
		t.Errorf("Harbor Hospital = %+v", g)
	}
	if g := got["north clinic"]; g.Unassessed != 1 || g.Members[0].Rating != 0 {
		t.Errorf("north clinic = %+v", g)
	}
	if _, err := s.Chart(ctx, filter.Everyone(), []string{"favourite_colour"}); apperr.KindOf(err) != apperr.KindInvalid {
		t.Errorf("chart by an unknown field: %v", err)
	}
}

func TestMergeKeepsRatings(t *testing.T) {
	s, clock, by := ratedStore(t)
	ctx := context.Background()
	if _, err := s.Rate(ctx, by["Cy"].ID, 3, "Olga", ""); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	eve := mustCreate(t, s, contact.Draft{FirstName: "Eve", Phone: "2125550199"})
	if _, err := s.Rate(ctx, eve.ID, 2, "Sam", ""); err != nil {
		t.Fatal(err)
	}
	c, err := s.Merge(ctx, by["Cy"].ID, eve.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Rating == nil || c.Rating.Rating != 2 || c.Rating.RatedBy != "Sam" {
		t.Errorf("merged contact's rating = %+v, want Eve's newer 2", c.Rating)
	}
	if hist, _ := s.Ratings(ctx, by["Cy"].ID, 10); len(hist) != 2 {
		t.Errorf("merged history = %+v", hist)
	}
}
