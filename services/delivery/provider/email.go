package provider

// EmailBatch is one provider call carrying the same content to many
// recipients: the body travels once, and what differs per member rides in
// each recipient's substitutions. A provider package translates it into
// its own API (provider/sendgrid into one v3 mail/send).
type EmailBatch struct {
	// Subject, Text and HTML may hold substitution tags; each recipient
	// sees them replaced by their own values.
	Subject string
	// ReplyTo is the Reply-To address, empty for none; it may hold tags.
	ReplyTo     string
	Text        string
	HTML        string
	Attachments []EmailAttachment
	Recipients  []EmailRecipient
}

// EmailRecipient is one member of a batch: their address, the ids that
// map the provider's events back (no personal data), their own headers
// (List-Unsubscribe) and their substitutions. The fields are lists rather
// than maps so a batch of 1,000 is built without 3,000 maps; a name given
// twice keeps its last value.
type EmailRecipient struct {
	Email      string
	CustomArgs []Field
	Headers    []Field
	// Substitutions replace each Name, literally, in the subject, the
	// text and HTML parts and the Reply-To, for this recipient only. A
	// value meant for HTML is already escaped for it.
	Substitutions []Field
}

// Field is one name and value.
type Field struct {
	Name  string
	Value string
}

// EmailAttachment is one file sent with every mail of a batch (a
// meeting's calendar invitation); Content is standard base64.
type EmailAttachment struct {
	Filename    string
	ContentType string
	Content     string
}

// RefusedRecipients is a provider's refusal of a whole batch that names
// the recipients at fault (SendGrid answers 400 for the request, naming
// each bad personalization): nothing was sent, the recipients at Index
// (positions in the batch) can never be sent as they are, and the others
// may go in a batch without them.
type RefusedRecipients struct {
	Index []int
	// Code is the provider's error code, kept for the message log.
	Code string
	Err  error
}

func (e *RefusedRecipients) Error() string { return e.Err.Error() }
func (e *RefusedRecipients) Unwrap() error { return e.Err }

// InboundEmail is an email someone sent to one of our reply addresses, as
// a provider's inbound webhook heard it, decoded to UTF-8: the email
// counterpart of Inbound. A provider package reads its own post format
// into it (provider/sendgrid from Inbound Parse).
type InboundEmail struct {
	// ProviderID is the same for every post of one email (a provider
	// retries a post whole), so a repeated post changes nothing.
	ProviderID string
	// From is the sender's address, lower-cased, without the display
	// name.
	From string
	// Recipients are every address the mail was sent to, lower-cased, the
	// one the provider actually received it at first.
	Recipients []string
	Subject    string
	// Text is the plain-text body (the HTML body's text when the mail had
	// no text part), the member's words and any original they quote.
	Text string
	// Automatic is true for mail a program sent, not a person: an
	// out-of-office answer, a mailing list's robot.
	Automatic bool
}
