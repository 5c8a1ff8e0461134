// Package natsauth is who may do what on NATS: one user per service, each
// allowed to publish and subscribe to the subjects it owns and nothing
// else, and an admin user for operators. The table here is the only
// statement of it; the embedded servers (make run, tests, the fault suite)
// are configured from it in Go, and deployments/nats/auth.conf, which the
// compose and Kubernetes servers include, is rendered from it (Conf) and
// held to it by a test.
//
// Users authenticate with nkeys: the server holds only public keys, the
// seed never leaves the service, and a key is rotated by replacing one
// pair (docs/security.md, "NATS").
package natsauth

import (
	"slices"

	"github.com/musterhq/muster/shared/events"
)

// The users. A service's user is named after the service; the console
// talks to the services over HTTP only and has no NATS user, so it cannot
// connect at all.
const (
	Contacts  = "contacts"
	Campaigns = "campaigns"
	Delivery  = "delivery"
	// Admin may do anything: for operators (the nats CLI) and for tests
	// that inspect streams. No service runs as it.
	Admin = "admin"
)

// jsAPI is the JetStream API prefix (no domain is used).
const jsAPI = "$JS.API."

// Consumer is a durable pull consumer a user declares and reads.
type Consumer struct {
	Stream  string
	Durable string
}

// User is one NATS user and what it owns.
type User struct {
	Name string
	// Streams the user declares (creates or updates) at start-up: those it
	// publishes to or consumes from, so services may start in any order.
	Streams []string
	// Consumers the user declares, pulls from and acknowledges; each may
	// also dead-letter to deadletter.<durable>.
	Consumers []Consumer
	// Events are the stream subjects it publishes to (wildcards allowed).
	Events []string
	// Reads are streams whose messages it fetches by subject (JetStream
	// direct get), without a consumer: delivery reading a campaign step's
	// stored email content.
	Reads []string
	// Requests are request/reply subjects it asks.
	Requests []string
	// Serves are request/reply subjects it answers (in a queue group); it
	// may reply to the requests it receives and to nothing else.
	Serves []string
	// All allows every subject (the admin user).
	All bool
}

// Users is the permission table. Derived from what the code publishes and
// consumes (events/subjects.go names the subjects):
//
//   - contacts answers the audience and member queries, publishes consent
//     changes organizers make and members' erasures (campaigns and
//     delivery consume those), applies everyone's consent changes, and
//     keeps members' rhythm changes to show them on the member page.
//   - campaigns alone publishes send requests and the email content they
//     name (content.<hash>), asks contacts for audience pages, and reads
//     message statuses and replies.
//   - delivery reads send requests and consent changes, publishes message
//     statuses, members' replies, consent changes (STOP, bounces) and
//     members' rhythm changes (NIGHTS, PAUSE, the preferences page), keeps
//     its own dead letters, and re-queues one an operator retries on
//     delivery.retry.<channel>, never on delivery.send. It reads stored
//     email content by subject and never writes it.
func Users() []User {
	return []User{
		{
			Name:      Contacts,
			Streams:   []string{events.StreamConsent, events.StreamRhythm, events.StreamErasure, events.StreamDeadLetter},
			Consumers: []Consumer{{events.StreamConsent, "contacts-consent"}, {events.StreamRhythm, "contacts-rhythm"}},
			Events:    []string{events.SubjectConsentChanged, events.SubjectContactErased},
			Serves:    []string{events.SubjectAudiencePage, events.SubjectAudienceCount, events.SubjectMemberGet},
		},
		{
			Name:      Campaigns,
			Streams:   []string{events.StreamSend, events.StreamMessages, events.StreamContent, events.StreamErasure, events.StreamDeadLetter},
			Consumers: []Consumer{{events.StreamMessages, "campaigns-results"}, {events.StreamErasure, "campaigns-erasure"}},
			Events:    []string{events.SubjectSendAll, events.SubjectContentAll},
			Requests:  []string{events.SubjectAudiencePage, events.SubjectAudienceCount, events.SubjectMemberGet},
		},
		{
			Name:    Delivery,
			Streams: []string{events.StreamSend, events.StreamMessages, events.StreamContent, events.StreamConsent, events.StreamRhythm, events.StreamErasure, events.StreamDeadLetter},
			Reads:   []string{events.StreamContent},
			Consumers: []Consumer{
				{events.StreamSend, "delivery-send"},
				{events.StreamSend, "delivery-send-email"},
				{events.StreamConsent, "delivery-consent"},
				{events.StreamErasure, "delivery-erasure"},
				{events.StreamDeadLetter, "delivery-dead-letters"},
			},
			Events: []string{events.SubjectMessagesAll, events.SubjectConsentChanged, events.SubjectRhythmChanged, events.SubjectRetryAll},
		},
		{Name: Admin, All: true},
	}
}

// Lookup finds a user of the table by name.
func Lookup(name string) (User, bool) {
	i := slices.IndexFunc(Users(), func(u User) bool { return u.Name == name })
	if i < 0 {
		return User{}, false
	}
	return Users()[i], true
}

// Permissions are the subjects a user may publish and subscribe to, as the
// server enforces them.
type Permissions struct {
	Publish   []string
	Subscribe []string
	// Responses lets the user publish one reply to each request it
	// received (nats-server's allow_responses), and only to those.
	Responses bool
}

// InboxPrefix is where the user's replies arrive (JetStream API answers,
// publish acknowledgements, pulled messages, request replies). A prefix
// per user keeps one service from reading another's replies; clients
// connect with it (ClientOptions).
func (u User) InboxPrefix() string { return "_INBOX." + u.Name }

// Permissions expands the user's row into subjects: its data subjects,
// the JetStream API calls for its own streams and consumers, acks for its
// consumers, its dead-letter subjects and its inbox.
func (u User) Permissions() Permissions {
	if u.All {
		return Permissions{Publish: []string{">"}, Subscribe: []string{">"}}
	}
	var pub []string
	pub = append(pub, u.Events...)
	pub = append(pub, u.Requests...)
	for _, s := range u.Streams {
		// No delete or purge: losing a stream is an operator's decision.
		pub = append(pub, jsAPI+"STREAM.CREATE."+s, jsAPI+"STREAM.UPDATE."+s, jsAPI+"STREAM.INFO."+s)
	}
	for _, s := range u.Reads {
		pub = append(pub, jsAPI+"DIRECT.GET."+s+".>")
	}
	for _, c := range u.Consumers {
		name := c.Stream + "." + c.Durable
		pub = append(pub,
			// Without a filter token (several filter subjects) and with one.
			jsAPI+"CONSUMER.CREATE."+name, jsAPI+"CONSUMER.CREATE."+name+".>",
			jsAPI+"CONSUMER.INFO."+name,
			jsAPI+"CONSUMER.MSG.NEXT."+name,
			// Ack, nak, in progress and term of what the consumer delivered.
			"$JS.ACK."+name+".>",
			events.SubjectDeadLetterPrefix+c.Durable,
		)
	}
	sub := append([]string{u.InboxPrefix() + ".>"}, u.Serves...)
	return Permissions{Publish: pub, Subscribe: sub, Responses: len(u.Serves) > 0}
}
