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
