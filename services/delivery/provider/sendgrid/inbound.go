package sendgrid

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"strings"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"
	"golang.org/x/text/encoding/htmlindex"

	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// InboundPath is where SendGrid's Inbound Parse webhook posts the mail
// members send to the reply addresses. Inbound Parse signs nothing and
// sends no credentials of its own choosing: the URL it is given is the
// credential, so the secret is a path segment (SendGrid's own advice is a
// secret in the URL or basic auth in it; a path segment also reaches us
// through every proxy). InboundPrefix is the path without the secret, for
// the edge's routing.
const (
	InboundPath   = InboundPrefix + "{secret}"
	InboundPrefix = "/webhooks/sendgrid/inbound/"
)

// Size limits of one post. The text fields together (bodies, headers,
// addresses) are held in memory and bounded by MaxInboundText: a reply
// longer than a mebibyte is not a member's reply. Attachments are never
// held: their bytes are read past and dropped, bounded only by
// maxInboundPost, a little over SendGrid's 30 MB limit on a whole
// message, so a member who replies "unsubscribe" with a photo attached
// is still heard (a refused post would be retried, then dropped).
const (
	MaxInboundText = 1 << 20
	maxInboundPost = 32 << 20
	// maxInboundParts bounds the parts of one post; SendGrid sends about
	// fifteen fields and one part per attachment.
	maxInboundParts = 1000
)

// InboundPost is one email as Inbound Parse posts it, decoded to UTF-8,
// with what SendGrid adds (its SPF and DKIM results). Email is what the
// rest of delivery reads of it.
type InboundPost struct {
	// From is the sender's address from the From header, lower-cased,
	// without the display name; the envelope's sender when the header
	// has none that parses.
	From string
	// Recipients are every address the mail was sent to, lower-cased: the
	// envelope's first (what SendGrid's MX actually received), then the
	// To and Cc headers'.
	Recipients []string
	Subject    string
	// Text is the plain-text body; the HTML body with its tags removed
	// when the mail had no text part.
	Text string
	// MessageID is the mail's Message-ID header, without angle brackets;
	// empty when the mail had none.
	MessageID string
	// SPF and DKIM are SendGrid's verification results, kept as evidence.
	SPF, DKIM string
	// Digest identifies the post when there is no Message-ID: a SHA-256 of
	// its sender, recipients, subject and body.
	Digest string
	// Attachments counts the files the post carried (dropped unread).
	Attachments int
	// Automatic is true for mail a program sent, not a person: an
	// out-of-office answer, a mailing list's robot (RFC 3834
	// Auto-Submitted, and the older Precedence and X-Autoreply headers).
	Automatic bool
}

// Key is the id that makes a retried post the same email: its
// Message-ID, else its digest. SendGrid retries a post whole, so either
// is stable across retries.
func (e InboundPost) Key() string {
	if e.MessageID != "" {
		sum := sha256.Sum256([]byte(strings.ToLower(e.MessageID)))
		return "email:mid:" + hex.EncodeToString(sum[:16])
	}
	return "email:sum:" + e.Digest
}

// Email is the post in the provider-neutral form, keyed by Key.
func (e InboundPost) Email() provider.InboundEmail {
	return provider.InboundEmail{ProviderID: e.Key(), From: e.From, Recipients: e.Recipients, Subject: e.Subject,
		Text: e.Text, Automatic: e.Automatic}
}

// InboundReceiver acts on a verified email. It returns once what must
// happen before the webhook answers (an opt-out's suppression) has.
type InboundReceiver interface {
	EmailReply(ctx context.Context, e provider.InboundEmail) error
}

// InboundWebhook receives Inbound Parse posts.
type InboundWebhook struct {
	secrets [][]byte
	recv    InboundReceiver
	log     *zap.Logger
}

// NewInboundWebhook builds the handler; secrets are the path secrets it
// accepts, the current one first and any previous ones (during a
// rotation, until SendGrid's settings carry the new URL).
func NewInboundWebhook(secrets [][]byte, recv InboundReceiver, log *zap.Logger) *InboundWebhook {
	return &InboundWebhook{secrets: secrets, recv: recv, log: log}
}

// Routes mounts the webhook.
func (h *InboundWebhook) Routes(r chi.Router) { r.Post(InboundPath, h.inbound) }

func (h *InboundWebhook) inbound(w http.ResponseWriter, r *http.Request) {
	// The secret first, before a byte of the body is read. A wrong one
	// is answered as a path that does not exist.
	if !h.known(chi.URLParam(r, "secret")) {
		h.refuse(w, r, apperr.NotFound("no such route"), "inbound parse secret not accepted")
		return
	}
	e, err := ParseInbound(w, r)
	if err == nil {
		err = h.recv.EmailReply(r.Context(), e.Email())
	}
	if err != nil {
		h.refuse(w, r, err, "inbound email refused")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// refuse answers an error with its status, logged once here. The path
// holds the secret, so it is never logged.
func (h *InboundWebhook) refuse(w http.ResponseWriter, r *http.Request, err error, msg string) {
	status := web.StatusOf(err)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || errors.Is(err, errTooLarge) {
		status, err = http.StatusRequestEntityTooLarge, apperr.Invalid("body", "over the size limit")
	}
	if status >= 500 {
		web.Fail(w, r, h.log, status, "inbound email failed", err)
		return
	}
	h.log.Warn(msg, zap.Int("status", status), zap.Error(err))
	web.WriteJSON(w, status, web.BodyOf(err))
}

// known compares the path's secret with every accepted one in constant
// time, looking at all of them whatever matches.
func (h *InboundWebhook) known(got string) bool {
	sum := sha256.Sum256([]byte(got))
	ok := 0
	for _, s := range h.secrets {
		want := sha256.Sum256(s)
		ok |= subtle.ConstantTimeCompare(sum[:], want[:])
	}
	return ok == 1 && got != ""
}

var errTooLarge = errors.New("inbound post over the size limit")

// ParseInbound reads an Inbound Parse post: multipart/form-data with the
// parsed fields, or with the whole message in "email" when "POST the raw,
// full MIME message" is on. It reads the body as a stream, holds at most
// MaxInboundText of text, and reads past attachments without keeping
// them. A malformed post is an invalid error, an oversized one errTooLarge
// or *http.MaxBytesError.
func ParseInbound(w http.ResponseWriter, r *http.Request) (InboundPost, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return InboundPost{}, apperr.Invalid("Content-Type", "want multipart/form-data with a boundary")
	}
	mr := multipart.NewReader(http.MaxBytesReader(w, r.Body, maxInboundPost), params["boundary"])
	fields := map[string]string{}
	var raw *rawEmail
	text, files := 0, 0
	for n := 0; ; n++ {
		if n >= maxInboundParts {
			return InboundPost{}, apperr.Invalid("body", "more than %d parts", maxInboundParts)
		}
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return InboundPost{}, malformed(err)
		}
		name := part.FormName()
		switch {
		case part.FileName() != "":
			// An attachment: counted, never kept.
			files++
			if _, err := io.Copy(io.Discard, part); err != nil {
				return InboundPost{}, malformed(err)
			}
		case name == "email":
			// Raw mode: the whole MIME message, read as a stream.
			if raw, err = readRaw(part, MaxInboundText-text); err != nil {
				return InboundPost{}, err
			}
			text += raw.size
		default:
			b, err := io.ReadAll(io.LimitReader(part, int64(MaxInboundText-text)+1))
			if err != nil {
				return InboundPost{}, malformed(err)
			}
			if text += len(b); text > MaxInboundText {
				return InboundPost{}, errTooLarge
			}
			fields[name] = string(b)
		}
		_ = part.Close()
	}
	if raw != nil {
		return raw.email(fields, files)
	}
	return parsedEmail(fields, files)
}

// malformed turns a read error into the answer: too large stays so, any
// other is the sender's malformed post.
func malformed(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return err
	}
	return apperr.Invalid("body", "malformed multipart: %v", err)
}

// envelope is Inbound Parse's "envelope" field.
type envelope struct {
	To   []string `json:"to"`
	From string   `json:"from"`
}

// parsedEmail builds the email from the default (parsed) fields.
func parsedEmail(f map[string]string, files int) (InboundPost, error) {
	var charsets map[string]string
	if c := f["charsets"]; c != "" {
		if err := json.Unmarshal([]byte(c), &charsets); err != nil {
			return InboundPost{}, apperr.Invalid("charsets", "not a JSON object")
		}
	}
	field := func(name string) string { return toUTF8(f[name], charsets[name]) }
	e := InboundPost{Subject: field("subject"), Text: field("text"), SPF: f["SPF"], DKIM: f["dkim"], Attachments: files}
	if e.Text == "" {
		e.Text = htmlText(field("html"))
	}
	var env envelope
	if s := f["envelope"]; s != "" {
		if err := json.Unmarshal([]byte(s), &env); err != nil {
			return InboundPost{}, apperr.Invalid("envelope", "not the SMTP envelope's JSON")
		}
	}
	hdr := headers(f["headers"])
	e.MessageID = messageID(hdr.Get("Message-Id"))
	e.Automatic = automatic(hdr)
	e.From = firstAddress(field("from"))
	if e.From == "" {
		e.From = firstAddress(env.From)
	}
	e.Recipients = recipients(env.To, field("to"), field("cc"))
	return e.finish()
}

// finish checks what every email needs and sets its digest.
func (e InboundPost) finish() (InboundPost, error) {
	if e.From == "" {
		return InboundPost{}, apperr.Invalid("from", "no sender address")
	}
	if len(e.Recipients) == 0 {
		return InboundPost{}, apperr.Invalid("to", "no recipient address")
	}
	h := sha256.New()
	for _, s := range append([]string{e.From, e.Subject, e.Text}, e.Recipients...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	e.Digest = hex.EncodeToString(h.Sum(nil)[:16])
	return e, nil
}

// headers reads the raw header block Inbound Parse sends; what does not
// parse is left out (the headers are evidence, not required).
func headers(raw string) mail.Header {
	raw = strings.TrimRight(raw, "\r\n") + "\r\n\r\n"
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		return mail.Header{}
	}
	return m.Header
}

// automatic reports whether headers mark mail a program sent.
func automatic(h mail.Header) bool {
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && v != "no" {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Precedence"))) {
	case "auto_reply", "bulk", "junk", "list":
		return true
	}
	return h.Get("X-Autoreply") != "" || h.Get("X-Autorespond") != ""
}

func messageID(v string) string {
	return strings.TrimSpace(strings.Trim(strings.TrimSpace(v), "<>"))
}

// firstAddress is the first address of an address-list header,
// lower-cased; "" when none parses.
func firstAddress(v string) string {
	if strings.TrimSpace(v) == "" {
		return ""
	}
	if list, err := addressParser.ParseList(v); err == nil && len(list) > 0 {
		return strings.ToLower(list[0].Address)
	}
	if a, err := addressParser.Parse(strings.TrimSpace(v)); err == nil {
		return strings.ToLower(a.Address)
	}
	return ""
}

// addressParser reads encoded display names in any charset the text
// package knows, so a name in ISO-8859-1 does not make a sender unreadable.
var addressParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: charsetReader}}

func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return nil, err
	}
	return enc.NewDecoder().Reader(input), nil
}

// recipients lists the envelope's recipients, then the headers', each
// once, lower-cased.
func recipients(envelopeTo []string, headerLists ...string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(a string) {
		a = strings.ToLower(strings.TrimSpace(a))
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, a := range envelopeTo {
		add(a)
	}
	for _, l := range headerLists {
		if strings.TrimSpace(l) == "" {
			continue
		}
		list, err := addressParser.ParseList(l)
		if err != nil {
			continue
		}
		for _, a := range list {
			add(a.Address)
		}
	}
	return out
}

// toUTF8 decodes a field from the charset Inbound Parse says it is in;
// UTF-8, ASCII, an unknown charset or one that fails to decode leave the
// bytes as they came.
func toUTF8(s, charset string) string {
	c := strings.ToLower(strings.TrimSpace(charset))
	if s == "" || c == "" || c == "utf-8" || c == "utf8" || c == "us-ascii" || c == "ascii" {
		return s
	}
	enc, err := htmlindex.Get(c)
	if err != nil {
		return s
	}
	out, err := enc.NewDecoder().String(s)
	if err != nil {
		return s
	}
	return out
}

// htmlText is a plain reading of an HTML body, for mail without a text
// part: the quoted original (a blockquote, Gmail's and Outlook's quote
// containers) is cut, block ends become line breaks, tags go and entities
// are decoded. Recognition needs the member's words, not the layout.
func htmlText(s string) string {
	if s == "" {
		return ""
	}
	lower := strings.ToLower(s)
	cut := len(s)
	for _, marker := range []string{"<blockquote", `class="gmail_quote`, `id="divrplyfwdmsg"`, `id="appendonsend"`} {
		if i := strings.Index(lower, marker); i >= 0 && i < cut {
			cut = i
			if marker[0] != '<' { // cut at the tag that holds the attribute
				if j := strings.LastIndexByte(lower[:i], '<'); j >= 0 {
					cut = j
				}
			}
		}
	}
	s = s[:cut]
	var b strings.Builder
	inTag := false
	tag := strings.Builder{}
	for _, r := range s {
		switch {
		case r == '<':
			inTag = true
			tag.Reset()
		case r == '>' && inTag:
			inTag = false
			t := strings.ToLower(strings.Trim(strings.Fields(tag.String() + " ")[0], "/"))
			switch t {
			case "br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6":
				b.WriteByte('\n')
			}
		case inTag:
			tag.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return htmlUnescape(b.String())
}

var htmlEntities = strings.NewReplacer("&nbsp;", " ", "&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#39;", "'", "&apos;", "'")

func htmlUnescape(s string) string { return htmlEntities.Replace(s) }

// rawEmail is what raw mode's "email" field held.
type rawEmail struct {
	header mail.Header
	text   string
	html   string
	files  int
	size   int
}

// readRaw reads a raw MIME message as a stream: its headers, its first
// text/plain part (else text/html), counting and skipping the rest, with
// at most limit bytes of text held.
func readRaw(r io.Reader, limit int) (*rawEmail, error) {
	lr := &countingLimit{r: r, limit: limit, counting: true}
	msg, err := mail.ReadMessage(lr)
	if err != nil {
		if lr.over {
			return nil, errTooLarge
		}
		return nil, apperr.Invalid("email", "not a MIME message: %v", err)
	}
	out := &rawEmail{header: msg.Header}
	lr.counting = false // the body's text is counted as it is kept
	if err := out.walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, limit-lr.n, 0); err != nil {
		return nil, err
	}
	out.size = lr.n + len(out.text) + len(out.html)
	if out.size > limit {
		return nil, errTooLarge
	}
	return out, nil
}

// walk visits one MIME entity, descending into multiparts.
func (m *rawEmail) walk(contentType, encoding string, body io.Reader, limit, depth int) error {
	if depth > 10 {
		return apperr.Invalid("email", "MIME nested too deep")
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || contentType == "" {
		mt, params = "text/plain", map[string]string{}
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for n := 0; ; n++ {
			if n >= maxInboundParts {
				return apperr.Invalid("email", "more than %d MIME parts", maxInboundParts)
			}
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return apperr.Invalid("email", "malformed MIME: %v", err)
			}
			if err := m.walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, limit-len(m.text)-len(m.html), depth+1); err != nil {
				return err
			}
		}
	}
	disposition, _, _ := mime.ParseMediaType(bodyDisposition(body))
	wanted := (mt == "text/plain" && m.text == "" || mt == "text/html" && m.html == "") && disposition != "attachment"
	if !wanted {
		if mt != "text/plain" && mt != "text/html" || disposition == "attachment" {
			m.files++
		}
		_, err := io.Copy(io.Discard, body)
		return err
	}
	b, err := io.ReadAll(io.LimitReader(decodeTransfer(body, encoding), int64(limit)+1))
	if err != nil {
		return apperr.Invalid("email", "reading a MIME part: %v", err)
	}
	if len(b) > limit {
		return errTooLarge
	}
	s := toUTF8(string(b), params["charset"])
	if mt == "text/plain" {
		m.text = s
	} else {
		m.html = s
	}
	return nil
}

// bodyDisposition is a part's Content-Disposition, when body is a part.
func bodyDisposition(body io.Reader) string {
	if p, ok := body.(*multipart.Part); ok {
		return p.Header.Get("Content-Disposition")
	}
	return ""
}

// email builds the email from raw mode's message and the post's other
// fields (the envelope).
func (m *rawEmail) email(f map[string]string, files int) (InboundPost, error) {
	e := InboundPost{Subject: decodeWords(m.header.Get("Subject")), Text: m.text, SPF: f["SPF"], DKIM: f["dkim"], Attachments: files + m.files}
	if e.Text == "" {
		e.Text = htmlText(m.html)
	}
	var env envelope
	if s := f["envelope"]; s != "" {
		if err := json.Unmarshal([]byte(s), &env); err != nil {
			return InboundPost{}, apperr.Invalid("envelope", "not the SMTP envelope's JSON")
		}
	}
	e.MessageID = messageID(m.header.Get("Message-Id"))
	e.Automatic = automatic(m.header)
	e.From = firstAddress(m.header.Get("From"))
	if e.From == "" {
		e.From = firstAddress(env.From)
	}
	e.Recipients = recipients(env.To, m.header.Get("To"), m.header.Get("Cc"))
	return e.finish()
}

func decodeWords(s string) string {
	d := mime.WordDecoder{CharsetReader: charsetReader}
	if out, err := d.DecodeHeader(s); err == nil {
		return out
	}
	return s
}

// countingLimit counts what is read through it and fails past limit
// while counting is on (the raw message's headers).
type countingLimit struct {
	r        io.Reader
	limit, n int
	counting bool
	over     bool
}

func (c *countingLimit) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.counting {
		c.n += n
		if c.n > c.limit {
			c.over = true
			return n, errTooLarge
		}
	}
	return n, err
}

// decodeTransfer undoes a part's Content-Transfer-Encoding.
func decodeTransfer(r io.Reader, encoding string) io.Reader {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "base64":
		// The decoder skips the line breaks MIME puts in base64.
		return base64.NewDecoder(base64.StdEncoding, r)
	}
	return r
}
