package events

// Streams and subjects. The stream definitions that bind them live in the
// stream package; these names are the contract between services.
const (
	// StreamSend is the work queue of send requests from campaigns to delivery.
	StreamSend = "SEND"
	// SubjectSendPrefix is followed by the channel: delivery.send.sms.
	SubjectSendPrefix = "delivery.send."
	// SubjectSendAll matches every send request.
	SubjectSendAll = "delivery.send.>"
	// SubjectRetryPrefix is followed by the channel: delivery.retry.sms
	// is a send request an operator retried from delivery's dead letters.
	// It is bound to StreamSend too, and kept apart from SubjectSendPrefix
	// so that only campaigns may publish delivery.send.* (natsauth).
	SubjectRetryPrefix = "delivery.retry."
	// SubjectRetryAll matches every retried send request.
	SubjectRetryAll = "delivery.retry.>"

	// StreamMessages carries what happened to messages and members' replies.
	StreamMessages = "MESSAGES"
	// SubjectStatusPrefix is followed by the status: messages.status.delivered.
	SubjectStatusPrefix = "messages.status."
	// SubjectStatuses carries StatusesChanged, many changes in one event.
	// It does not start with SubjectStatusPrefix.
	SubjectStatuses = "messages.statuses"
	// SubjectInbound carries members' replies.
	SubjectInbound = "messages.inbound"
	// SubjectMessagesAll matches every subject of StreamMessages.
	SubjectMessagesAll = "messages.>"

	// StreamConsent carries every consent change, whoever made it.
	StreamConsent = "CONSENT"
	// SubjectConsentChanged is the one consent subject.
	SubjectConsentChanged = "consent.changed"

	// StreamRhythm carries members' own rhythm changes (RhythmChanged),
	// apart from CONSENT so no consent consumer meets an event that is not
	// a consent change.
	StreamRhythm = "RHYTHM"
	// SubjectRhythmChanged is the one rhythm subject.
	SubjectRhythmChanged = "member.rhythm_changed"

	// StreamErasure carries members' erasures (ContactErased) from
	// contacts to campaigns and delivery. It keeps an event until every
	// consumer acknowledged it (interest retention): the addresses in it
	// leave JetStream once every service has erased them.
	StreamErasure = "ERASURE"
	// SubjectContactErased is the one erasure subject.
	SubjectContactErased = "contact.erased"

	// StreamDeadLetter keeps what consumers gave up on, for operators.
	StreamDeadLetter = "DEADLETTER"
	// SubjectDeadLetterPrefix is followed by the consumer name.
	SubjectDeadLetterPrefix = "deadletter."

	// StreamContent keeps campaign steps' rendered email content
	// (Content), one message per content under SubjectContentPrefix and
	// its hash: campaigns writes it before the step's send requests,
	// delivery reads it by subject (direct get) and caches it.
	StreamContent = "CONTENT"
	// SubjectContentPrefix is followed by the content's hex SHA-256.
	SubjectContentPrefix = "content."
	// SubjectContentAll matches every stored content.
	SubjectContentAll = "content.>"

	// SubjectAudiencePage is the request/reply subject contacts answers with
	// one page of an audience.
	SubjectAudiencePage = "contacts.audience.page"
)

// SendSubject is the subject a send request on channel c is published to.
func SendSubject(c Channel) string { return SubjectSendPrefix + string(c) }

// RetrySubject is the subject a retried send request on channel c is
// published to.
func RetrySubject(c Channel) string { return SubjectRetryPrefix + string(c) }

// StatusSubject is the subject a status change to status is published to.
func StatusSubject(status string) string { return SubjectStatusPrefix + status }
