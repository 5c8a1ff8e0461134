package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/testkit"
)

type rhythmJSON struct {
	Window      string     `json:"window"`
	PausedUntil *time.Time `json:"paused_until"`
	FewerTexts  bool       `json:"fewer_texts"`
	Language    string     `json:"language"`
	Channels    string     `json:"channels"`
	History     []struct {
		EventID, Change, Source, Evidence, Window string
	} `json:"history"`
}

// A member's rhythm, as delivery announces it, is shown on the contact and
// consent answers with its history, settles by when each change happened
// whatever order the events come in, and never opts anyone out.
func TestRhythmShownAndNeverAnOptOut(t *testing.T) {
	url, ns := start(t)
	c := mustCreate(t, url, map[string]any{"first_name": "Noor", "phone": "2125550177", "tags": []string{"night"}})
	b := connect(t, ns)
	at := testkit.NewClock(t).Now().Truncate(time.Microsecond) // as PostgreSQL keeps it
	change := func(kind, evidence, window string, paused *time.Time, at time.Time) events.RhythmChanged {
		return events.RhythmChanged{
			Meta:    events.NewMeta(events.TypeRhythmChanged, events.VersionRhythm, "", at),
			Channel: events.ChannelSMS, Address: "+12125550177", Change: kind, Source: events.SourceInboundSMS,
			Evidence: evidence, Window: window, PausedUntil: paused, Language: "en", Channels: "both", At: at,
		}
	}
	until := at.Add(30 * 24 * time.Hour)
	nights := change("nights", "NIGHTS (SM1)", "16:00-21:00", nil, at)
	pause := change("pause", "PAUSE (SM2)", "16:00-21:00", &until, at.Add(time.Minute))
	// The newer change first, the older one twice after it: the page shows
	// the newer, the history each once.
	for _, ev := range []events.RhythmChanged{pause, nights, nights} {
		data, _ := json.Marshal(ev)
		if _, err := b.js.Publish(context.Background(), events.SubjectRhythmChanged, data); err != nil {
			t.Fatal(err)
		}
	}
	var got struct {
		Rhythm rhythmJSON `json:"rhythm"`
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if code, raw := call(t, "GET", url+"/contacts/"+c.ID, nil, &got); code != http.StatusOK {
			t.Fatalf("get = %d %s", code, raw)
		}
		if len(got.Rhythm.History) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rhythm not recorded: %+v", got.Rhythm)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := got.Rhythm
	if r.Window != "16:00-21:00" || r.PausedUntil == nil || !r.PausedUntil.Equal(until) || r.Language != "en" || r.Channels != "both" {
		t.Fatalf("rhythm = %+v", r)
	}
	if r.History[0].Change != "nights" || r.History[0].Evidence != "NIGHTS (SM1)" || r.History[1].Change != "pause" {
		t.Fatalf("history = %+v", r.History)
	}

	// The consent answer carries the same rhythm, and the member is still
	// subscribed and in the audience: a NIGHTS or a PAUSE is not a STOP.
	var cons struct {
		Current []struct{ Channel, Status string } `json:"current"`
		History []struct{ Change string }          `json:"history"`
		Rhythm  rhythmJSON                         `json:"rhythm"`
	}
	if code, raw := call(t, "GET", url+"/contacts/"+c.ID+"/consent", nil, &cons); code != http.StatusOK {
		t.Fatalf("consent = %d %s", code, raw)
	}
	if cons.Rhythm.Window != "16:00-21:00" || len(cons.Rhythm.History) != 2 {
		t.Fatalf("consent's rhythm = %+v", cons.Rhythm)
	}
	for _, s := range cons.Current {
		if s.Channel == "sms" && s.Status != "subscribed" {
			t.Fatalf("a rhythm change moved consent: %+v", cons.Current)
		}
	}
	for _, h := range cons.History {
		if h.Change != events.ConsentSubscribed {
			t.Fatalf("a rhythm change reached the consent ledger: %+v", cons.History)
		}
	}
	if names := b.audience(events.AudiencePageRequest{Tag: "night", Channel: events.ChannelSMS, Limit: 10}); len(names) != 1 {
		t.Fatalf("audience after NIGHTS and PAUSE = %v", names)
	}
}
