package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	fastjson "github.com/segmentio/encoding/json"
)

// Event type names and their current versions. A consumer that meets a
// higher version than it knows refuses the event rather than misread it.
const (
	TypeSendRequested   = "send.requested"
	TypeStatusChanged   = "message.status_changed"
	TypeStatusesChanged = "message.statuses_changed"
	TypeInboundReceived = "message.inbound_received"
	TypeConsentChanged  = "consent.changed"
	TypeDeadLettered    = "consumer.dead_lettered"
	TypeRhythmChanged   = "member.rhythm_changed"
	TypeContactErased   = "contact.erased"
	// VersionSendRequested 2 added ContentRef and MergeValues; a version
	// 1 request (the whole email inline) is still read the same way.
	VersionSendRequested = 2
	VersionStatusChanged = 1
	VersionStatuses      = 1
	VersionInbound       = 1
	VersionConsent       = 1
	VersionDeadLettered  = 1
	VersionRhythm        = 1
	VersionContactErased = 1
)

// IdempotencyKey names one intended message: one campaign step to one
// contact on one channel. Delivery records at most one message per key, so
// a re-launch, a redelivery or a resumed fan-out can never send twice.
func IdempotencyKey(campaignID string, step int, contactID string, ch Channel) string {
	return fmt.Sprintf("c.%s.s%d.%s.%s", campaignID, step, contactID, ch)
}

// SendRequested asks delivery to send one rendered message. Its Meta.ID is
// the idempotency key.
type SendRequested struct {
	Meta
	IdempotencyKey string  `json:"idempotency_key"`
	CampaignID     string  `json:"campaign_id"`
	Step           int     `json:"step"`
	ContactID      string  `json:"contact_id"`
	Channel        Channel `json:"channel"`
	// To is an E.164 phone number for SMS or a lower-cased email address.
	To       string `json:"to"`
	Body     string `json:"body"`
	Subject  string `json:"subject,omitempty"`
	HTML     string `json:"html,omitempty"`
	TimeZone string `json:"time_zone,omitempty"`
	// Urgent alerts may bypass the organization's frequency caps, never
	// an opt-out nor the member's own window, pause or "fewer texts".
	Urgent bool `json:"urgent,omitempty"`
	// Language is the one the member was written to in (the contact's,
	// as the template was chosen): keyword replies follow it.
	Language string `json:"language,omitempty"`
	// State is the contact's US state (two letters), when known: its
	// stricter hours apply. Without it delivery reads the number's area
	// code.
	State string `json:"state,omitempty"`
	// NotAfter, when set, is when the message stops being of use (a
	// meeting reminder after the meeting starts): a text deferred past it
	// ends expired instead of going out late. omitzero: a zero time is
	// left out, as omitempty cannot do for a struct.
	NotAfter time.Time `json:"not_after,omitzero"`
	// DefaultWindow is the window this member starts with when they have
	// not chosen one (DefaultWindowNights for a member whose shift is
	// night). Delivery applies it only when the organization turned the
	// shift-aware default on and the member never chose their hours
	// (NIGHTS, DAYS or the preferences page); empty is the organization's.
	DefaultWindow string `json:"default_window,omitempty"`
	// Attachments go with an email only (a meeting's calendar invitation);
	// an SMS request never carries any.
	Attachments []Attachment `json:"attachments,omitempty"`
	// ContentRef, on an email, names the step's stored Content (its ref,
	// see Content.Ref) in place of Subject, Body, HTML and Attachments,
	// which are then empty; MergeValues are this member's values of the
	// content's merge slots, in order and unescaped. Together they name
	// exactly what the member gets.
	ContentRef  string   `json:"content_ref,omitempty"`
	MergeValues []string `json:"merge_values,omitempty"`
}

// DefaultWindowNights asks for the NIGHTS window (16:00-21:00 the
// member's time) as a member's default: campaigns sets it when the
// member's shift attribute is night.
const DefaultWindowNights = "nights"

// Attachment is one file sent with an email. Content is standard base64,
// the form SendGrid's v3 API takes, so delivery passes it through as is.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Content     string `json:"content"`
}

// Message statuses. Terminal ones end a message's life; the order of the
// rest is the order a message moves through (see delivery's status type).
const (
	StatusQueued      = "queued"
	StatusSending     = "sending"
	StatusAccepted    = "accepted"
	StatusSent        = "sent"
	StatusDelivered   = "delivered"
	StatusUndelivered = "undelivered"
	StatusFailed      = "failed"
	StatusSuppressed  = "suppressed"
	StatusExpired     = "expired"
	StatusCancelled   = "cancelled"
	StatusUnknown     = "unknown"
)

// StatusChanged reports that a message moved to a new status.
type StatusChanged struct {
	Meta
	StatusChange
}

// StatusesChanged reports many messages' moves at once: the recipients of
// one batched provider call, or the outcomes one worker settled together.
// Each change means what the same fields of a StatusChanged do; a
// consumer applies them as if they had come one by one.
type StatusesChanged struct {
	Meta
	Changes []StatusChange `json:"changes"`
}

// StatusChange is one message's new status.
type StatusChange struct {
	MessageID      string  `json:"message_id"`
	IdempotencyKey string  `json:"idempotency_key"`
	CampaignID     string  `json:"campaign_id"`
	ContactID      string  `json:"contact_id"`
	Channel        Channel `json:"channel"`
	Status         string  `json:"status"`
	ProviderID     string  `json:"provider_id,omitempty"`
	ErrorCode      string  `json:"error_code,omitempty"`
	Reason         string  `json:"reason,omitempty"`
}

// InboundReceived is a member's reply. CampaignID and ContactID come from the
// latest outbound message to that address, when there is one.
type InboundReceived struct {
	Meta
	MessageID  string  `json:"message_id"`
	ProviderID string  `json:"provider_id"`
	Channel    Channel `json:"channel"`
	From       string  `json:"from"`
	To         string  `json:"to"`
	Body       string  `json:"body"`
	// Keyword is the compliance keyword family delivery already handled
	// (opt_out, opt_in, help), empty for an ordinary reply.
	Keyword    string `json:"keyword,omitempty"`
	CampaignID string `json:"campaign_id,omitempty"`
	ContactID  string `json:"contact_id,omitempty"`
}

// Consent changes.
const (
	ConsentOptedOut    = "opted_out"
	ConsentResubscribe = "resubscribed"
	ConsentBounced     = "bounced"
	ConsentComplained  = "complained"
	// ConsentSubscribed records how an address came to be subscribed (an
	// import row, an API call, a text-to-join keyword, a web form): the
	// opt-in evidence a regulator may ask for.
	ConsentSubscribed = "subscribed"
)

// Consent sources.
const (
	SourceInboundSMS = "inbound_sms"
	// SourceInboundEmail is the member's own act from an email: the
	// unsubscribe link or their mail client's one-click unsubscribe.
	SourceInboundEmail = "email_unsubscribe"
	// SourceInboundEmailReply is the member's own reply to a campaign
	// email (through SendGrid's Inbound Parse), read as an opt-out.
	SourceInboundEmailReply = "inbound_email_reply"
	SourceOrganizer         = "organizer"
	SourceProvider          = "provider_event"
	SourceImport            = "import"
	// SourceAPI is a contact created or changed through the API, with the
	// caller as the actor.
	SourceAPI = "api"
	// SourceJoinKeyword is a member texting the organization's join
	// keyword; SourceWebForm a member's own form (the preferences page).
	SourceJoinKeyword = "join_keyword"
	SourceWebForm     = "web_form"
)

// ConsentChanged records one change of consent for an address on a channel.
// Consent follows the address, not the contact record.
type ConsentChanged struct {
	Meta
	Channel Channel `json:"channel"`
	Address string  `json:"address"`
	Change  string  `json:"change"`
	Source  string  `json:"source"`
	// Evidence is the raw proof: the inbound text, the provider event, who
	// acted. Reason explains a plain-language match.
	Evidence string    `json:"evidence,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
}

// RhythmChanged announces a member's own choice of when and how often to
// be reached (NIGHTS, PAUSE, LESS, the preferences page), as it stands
// after the change, so contacts can show it on the member page. Delivery
// enforces it; nothing else needs to act on it.
type RhythmChanged struct {
	Meta
	// Channel is the kind of Address: sms for a phone number, email.
	Channel Channel `json:"channel"`
	Address string  `json:"address"`
	// Change is what the member asked: nights, days, pause, resume, less,
	// more, language, channels, or web_form for the preferences page.
	Change string `json:"change"`
	// Source is SourceInboundSMS or SourceWebForm; Evidence the text and
	// its message SID, or what the form saved.
	Source   string `json:"source"`
	Evidence string `json:"evidence,omitempty"`
	// Window is the member's own window, "16:00-21:00" in their local
	// time; empty means the organization's.
	Window      string     `json:"window,omitempty"`
	PausedUntil *time.Time `json:"paused_until,omitempty"`
	// Less is "at most one text a week".
	Less     bool   `json:"less"`
	Language string `json:"language,omitempty"`
	// Channels is sms, email or both.
	Channels string    `json:"channels"`
	At       time.Time `json:"at"`
}

// ContactErased says an admin erased a member: every service removes what
// it keeps of them (campaigns by contact id; delivery by contact id and by
// address, since replies and suppressions are kept by address) and keeps
// a suppression only as a keyed hash (package erasure). It is published
// through contacts' outbox on StreamErasure, which keeps it only until
// every consumer has acknowledged it, so the addresses it carries do not
// outlive the erasure. Handling it twice changes nothing.
type ContactErased struct {
	Meta
	ContactID string `json:"contact_id"`
	// Addresses are the member's phone number and email when erased.
	Addresses []ErasedAddress `json:"addresses"`
	// ErasedBy names who erased (an organizer's id, or "operator").
	ErasedBy string    `json:"erased_by"`
	At       time.Time `json:"at"`
}

// ErasedAddress is one address of an erased member.
type ErasedAddress struct {
	Channel Channel `json:"channel"`
	Address string  `json:"address"`
}

// DeadLettered records a message a consumer gave up on, with the original
// payload so an operator can inspect or replay it.
type DeadLettered struct {
	Meta
	Consumer   string `json:"consumer"`
	Subject    string `json:"subject"`
	Data       []byte `json:"data"`
	Error      string `json:"error"`
	Deliveries uint64 `json:"deliveries"`
}

// AudiencePageRequest asks contacts for one page of members reachable on
// Channel who carry Tag and match Filter, after the contact id After.
type AudiencePageRequest struct {
	Tag     string  `json:"tag"`
	Channel Channel `json:"channel"`
	After   string  `json:"after,omitempty"`
	Limit   int     `json:"limit"`
	// Filter is an audience in contacts' filter language ({"all": [...]},
	// {"tag": ...}, {"field": ...}; see docs/contacts.md). It is optional and
	// raw so this catalog holds no business rules; with Tag, both must hold.
	Filter json.RawMessage `json:"filter,omitempty"`
}

// Member is what campaigns needs of a contact to render and address one
// message.
type Member struct {
	ContactID string            `json:"contact_id"`
	FirstName string            `json:"first_name"`
	LastName  string            `json:"last_name"`
	Phone     string            `json:"phone,omitempty"`
	Email     string            `json:"email,omitempty"`
	TimeZone  string            `json:"time_zone,omitempty"`
	Language  string            `json:"language,omitempty"`
	Fields    map[string]string `json:"fields,omitempty"`
	// OrganizerFirstName is the first name of the member's assignee (their
	// organizer or steward), "" when nobody is assigned: the
	// {{organizer_first_name}} merge field.
	OrganizerFirstName string `json:"organizer_first_name,omitempty"`
}

// AudiencePage is one page of an audience. Next is empty on the last page.
type AudiencePage struct {
	Members []Member `json:"members"`
	Next    string   `json:"next,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// SubjectMemberGet is the request/reply subject contacts answers with one
// member (a MemberRequest answered by a MemberReply), so campaigns can
// preview a message exactly as that member would get it; campaigns falls
// back to sample data when contacts does not answer.
const SubjectMemberGet = "contacts.member.get"

// MemberRequest asks contacts for one member by contact id.
type MemberRequest struct {
	ContactID string `json:"contact_id"`
}

// MemberReply answers a MemberRequest. Member is nil and NotFound set when
// there is no such contact; Error reports any other failure.
type MemberReply struct {
	Member   *Member `json:"member,omitempty"`
	NotFound bool    `json:"not_found,omitempty"`
	Error    string  `json:"error,omitempty"`
}

// SubjectAudienceCount is the request/reply subject contacts answers with
// the size of an audience (an AudiencePageRequest whose Channel, After and
// Limit are ignored, answered by an AudienceCount), so organizers see who
// a campaign will miss before launching; campaigns counts reachable
// members page by page when contacts does not answer.
const SubjectAudienceCount = "contacts.audience.count"

// AudienceCount is the size of an audience, per channel.
type AudienceCount struct {
	Total int64        `json:"total"`
	SMS   ChannelCount `json:"sms"`
	Email ChannelCount `json:"email"`
	Error string       `json:"error,omitempty"`
}

// ChannelCount splits an audience by whether a channel can reach them.
type ChannelCount struct {
	// Reachable have an address for the channel that is not opted out.
	Reachable int64 `json:"reachable"`
	// OptedOut have an address, and it is opted out (suppressed).
	OptedOut int64 `json:"opted_out"`
	// NoAddress have no phone (sms) or no email (email).
	NoAddress int64 `json:"no_address"`
}

// DecodeSendRequested reads a send request and checks what every consumer
// needs of one: a version it knows, an idempotency key, a campaign and a
// contact. An error means the request can never be handled.
func DecodeSendRequested(data []byte) (SendRequested, error) {
	var req SendRequested
	// Delivery decodes one of these per message: segmentio's decoder reads
	// them the way encoding/json does (a fuzz test holds it to that) in a
	// fifth of the time.
	if err := fastjson.Unmarshal(data, &req); err != nil {
		return SendRequested{}, fmt.Errorf("decoding send request: %w", err)
	}
	if err := Check(req); err != nil {
		return SendRequested{}, err
	}
	if req.IdempotencyKey == "" || req.CampaignID == "" || req.ContactID == "" {
		return SendRequested{}, errors.New("send request lacks idempotency key, campaign or contact")
	}
	return req, nil
}
