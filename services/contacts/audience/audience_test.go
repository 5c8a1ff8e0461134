package audience

import (
	"encoding/json"
	"testing"

	"github.com/musterhq/muster/services/contacts/filter"
	"github.com/musterhq/muster/shared/events"
)

// TestQuery checks how a page request becomes a filter: campaigns' tag
// requests unchanged (and their JSON unchanged), a filter alone, both
// ANDed, and a request naming nobody refused.
func TestQuery(t *testing.T) {
	tagOnly := events.AudiencePageRequest{Tag: "Rally", Channel: events.ChannelSMS, Limit: 500}
	if b, _ := json.Marshal(tagOnly); string(b) != `{"tag":"Rally","channel":"sms","limit":500}` {
		t.Errorf("a tag-only request encodes as %s; campaigns' wire form changed", b)
	}
	n, err := Query(tagOnly)
	if err != nil || n.Kind != filter.KindAll || len(n.Children) != 1 || n.Children[0].Tag != "rally" {
		t.Errorf("tag only = %+v, %v", n, err)
	}
	both := events.AudiencePageRequest{Tag: "rally", Channel: events.ChannelEmail, Filter: json.RawMessage(`{"has":"phone"}`)}
	n, err = Query(both)
	if err != nil || len(n.Children) != 2 || n.Children[0].Kind != filter.KindTag || n.Children[1].Kind != filter.KindHas {
		t.Errorf("tag and filter = %+v, %v", n, err)
	}
	n, err = Query(events.AudiencePageRequest{Channel: events.ChannelSMS, Filter: json.RawMessage(`{"all":[]}`)})
	if err != nil || len(n.Children) != 1 {
		t.Errorf("everyone = %+v, %v", n, err)
	}
	for _, bad := range []events.AudiencePageRequest{
		{Channel: events.ChannelSMS},
		{Channel: events.ChannelSMS, Filter: json.RawMessage(`null`)},
		{Tag: "rally"},
		{Tag: "rally", Channel: "fax"},
		{Channel: events.ChannelSMS, Filter: json.RawMessage(`{"tag":""}`)},
	} {
		if _, err := Query(bad); err == nil {
			t.Errorf("Query(%+v) accepted", bad)
		}
	}
}
