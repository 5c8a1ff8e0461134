package natsauth_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/stream"
)

// matches says whether a literal subject falls under a permission
// pattern with NATS wildcards (* one token, > the rest).
func matches(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, tok := range p {
		switch {
		case tok == ">":
			return len(s) > i
		case i >= len(s):
			return false
		case tok != "*" && tok != s[i]:
			return false
		}
	}
	return len(p) == len(s)
}

// mayPublish says whether u's permissions let it publish subject.
func mayPublish(u natsauth.User, subject string) bool {
	return slices.ContainsFunc(u.Permissions().Publish, func(p string) bool { return matches(p, subject) })
}

func TestMatches(t *testing.T) {
	for _, c := range []struct {
		pattern, subject string
		want             bool
	}{
		{"delivery.send.>", "delivery.send.sms", true},
		{"delivery.send.>", "delivery.send", false},
		{"delivery.send.*", "delivery.send.sms", true},
		{"delivery.send.*", "delivery.send.sms.x", false},
		{"consent.changed", "consent.changed", true},
		{"consent.changed", "consent.changed.x", false},
		{">", "anything.at.all", true},
	} {
		if got := matches(c.pattern, c.subject); got != c.want {
			t.Errorf("matches(%q, %q) = %v, want %v", c.pattern, c.subject, got, c.want)
		}
	}
}

// The ownership the architecture promises, read off the table: whatever
// the table says about anything else, these must hold.
func TestOnlyOwnersPublish(t *testing.T) {
	owners := []struct {
		subject string
		may     []string
	}{
		{events.SendSubject(events.ChannelSMS), []string{natsauth.Campaigns}},
		{events.SendSubject(events.ChannelEmail), []string{natsauth.Campaigns}},
		{events.RetrySubject(events.ChannelSMS), []string{natsauth.Delivery}},
		{events.SubjectConsentChanged, []string{natsauth.Contacts, natsauth.Delivery}},
		{events.StatusSubject("delivered"), []string{natsauth.Delivery}},
		{events.SubjectStatuses, []string{natsauth.Delivery}},
		{events.SubjectInbound, []string{natsauth.Delivery}},
		{events.SubjectAudiencePage, []string{natsauth.Campaigns}},
		{events.ContentSubject("sha256:" + strings.Repeat("ab", 32)), []string{natsauth.Campaigns}},
		// Only delivery reads stored content by subject.
		{"$JS.API.DIRECT.GET." + events.StreamContent + ".content.x", []string{natsauth.Delivery}},
		{events.SubjectMemberGet, []string{natsauth.Campaigns}},
		{events.SubjectDeadLetterPrefix + "delivery-send", []string{natsauth.Delivery}},
		{events.SubjectDeadLetterPrefix + "campaigns-results", []string{natsauth.Campaigns}},
		// Nobody but an operator deletes or purges a stream.
		{"$JS.API.STREAM.DELETE." + events.StreamSend, nil},
		{"$JS.API.STREAM.PURGE." + events.StreamConsent, nil},
		{"$JS.API.CONSUMER.DELETE." + events.StreamSend + ".delivery-send", nil},
	}
	for _, o := range owners {
		for _, u := range natsauth.Users() {
			if u.All {
				continue
			}
			if got, want := mayPublish(u, o.subject), slices.Contains(o.may, u.Name); got != want {
				t.Errorf("%s may publish %s: %v, want %v", u.Name, o.subject, got, want)
			}
		}
	}
}

// Every user declares the streams it writes to and reads from, so any
// service can start first; and every subject it publishes events to
// belongs to one of them.
func TestUsersDeclareTheirStreams(t *testing.T) {
	configs := stream.StreamConfigs(stream.Topology{})
	streamOf := func(subject string) string {
		for _, c := range configs {
			for _, s := range c.Subjects {
				// An event pattern (delivery.send.>) belongs to a stream
				// whose subject covers it.
				if matches(s, strings.ReplaceAll(strings.ReplaceAll(subject, ">", "x"), "*", "x")) {
					return c.Name
				}
			}
		}
		return ""
	}
	for _, u := range natsauth.Users() {
		if u.All {
			continue
		}
		for _, s := range u.Events {
			name := streamOf(s)
			if name == "" {
				t.Errorf("%s publishes %s, which no stream binds", u.Name, s)
			} else if !slices.Contains(u.Streams, name) {
				t.Errorf("%s publishes %s to %s but does not declare it", u.Name, s, name)
			}
		}
		for _, c := range u.Consumers {
			if !slices.Contains(u.Streams, c.Stream) {
				t.Errorf("%s consumes %s but does not declare it", u.Name, c.Stream)
			}
		}
		if len(u.Consumers) > 0 && !slices.Contains(u.Streams, events.StreamDeadLetter) {
			t.Errorf("%s has consumers, which dead-letter, but does not declare %s", u.Name, events.StreamDeadLetter)
		}
	}
}

func TestSeedsEnvRoundTrip(t *testing.T) {
	seeds, err := natsauth.NewSeeds()
	if err != nil {
		t.Fatal(err)
	}
	env, err := seeds.Env()
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := seeds.PublicKeys()
	for _, u := range natsauth.Users() {
		if !strings.Contains(env, natsauth.SeedVariable(u.Name)+"="+seeds[u.Name]+"\n") ||
			!strings.Contains(env, natsauth.KeyVariable(u.Name)+"="+keys[u.Name]+"\n") {
			t.Errorf("env file lacks %s's seed or key:\n%s", u.Name, env)
		}
	}
	back, err := natsauth.ReadSeeds("# a comment\n" + env)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(seeds) {
		t.Fatalf("read %d seeds, wrote %d", len(back), len(seeds))
	}
	for name, seed := range seeds {
		if back[name] != seed {
			t.Errorf("%s: read %q", name, back[name])
		}
	}
	if _, err := natsauth.ReadSeeds(strings.Replace(env, natsauth.SeedVariable(natsauth.Delivery), "X", 1)); err == nil {
		t.Error("a file without delivery's seed was accepted")
	}
}
