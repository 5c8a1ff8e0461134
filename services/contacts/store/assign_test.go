package store

import (
	"context"
	"testing"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/services/contacts/filter"
)

func TestAssignByHandBulkAndRebalance(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var ids []string
	for i, p := range []string{"2125550111", "2125550112", "2125550113", "2125550114", "2125550115"} {
		d := contact.Draft{FirstName: "M", LastName: string(rune('a' + i)), Phone: p, Tags: []string{"night"}}
		if i == 4 {
			d.Tags = nil
		}
		ids = append(ids, mustCreate(t, s, d).ID)
	}
	ana := Assignee{ID: "acc-ana", Name: "Ana Ruiz"}
	ana, _ = ana.Check("assignee")
	if ana.FirstName != "Ana" {
		t.Fatalf("first name from the name: %q", ana.FirstName)
	}
	n, err := filter.Parse([]byte(`{"tag": "night"}`))
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := s.Assign(ctx, n, ana, AssignBulk, "boss"); err != nil || changed != 4 {
		t.Fatalf("bulk assign: %d, %v", changed, err)
	}
	if changed, err := s.Assign(ctx, n, ana, AssignBulk, "boss"); err != nil || changed != 0 {
		t.Fatalf("assigning again changes nothing: %d, %v", changed, err)
	}
	ben := Assignee{ID: "acc-ben", Name: "Ben Ode", FirstName: "Ben"}
	if _, err := s.AssignOne(ctx, ids[4], ben, "boss"); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Get(ctx, ids[4])
	if c.AssigneeID != "acc-ben" || c.AssigneeName != "Ben Ode" || c.AssigneeFirstName != "Ben" {
		t.Fatalf("by hand: %+v", c)
	}
	mine, _ := filter.Parse([]byte(`{"field": "assignee_id", "op": "eq", "value": "acc-ana"}`))
	list, _, err := s.List(ctx, ListQuery{Filter: mine})
	if err != nil || len(list) != 4 {
		t.Fatalf("list by assignee: %d, %v", len(list), err)
	}
	cy := Assignee{ID: "acc-cy", Name: "Cy", FirstName: "Cy"}
	counts, err := s.Rebalance(ctx, "acc-ana", []Assignee{ben, cy}, "boss")
	if err != nil || counts[0] != 2 || counts[1] != 2 {
		t.Fatalf("rebalance: %v, %v", counts, err)
	}
	if list, _, _ := s.List(ctx, ListQuery{Filter: mine}); len(list) != 0 {
		t.Fatalf("ana still has %d", len(list))
	}
	hist, err := s.Assignments(ctx, ids[0])
	if err != nil || len(hist) != 2 || hist[0].Source != AssignRebalance || hist[0].PreviousID != "acc-ana" || hist[1].Source != AssignBulk || hist[1].ChangedBy != "boss" {
		t.Fatalf("history: %+v, %v", hist, err)
	}
	page, _, err := s.AudiencePage(ctx, filter.And(), "sms", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range page {
		if m.OrganizerFirstName != "Ben" && m.OrganizerFirstName != "Cy" {
			t.Fatalf("audience member without their organizer's first name: %+v", m)
		}
	}
	if _, err := s.AssignOne(ctx, ids[4], Assignee{}, "boss"); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Get(ctx, ids[4]); c.AssigneeID != "" || c.AssigneeFirstName != "" {
		t.Fatalf("unassigned: %+v", c)
	}
}
