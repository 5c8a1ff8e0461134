package sim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	maxMailBytes         = 30 << 20 // SendGrid's request size limit
	maxPersonalizations  = 1000
	sendGridErrorsHelp   = "https://docs.sendgrid.com/api-reference/mail-send/errors"
	sendGridBearerPrefix = "Bearer "
)

// Email is one delivered email as the simulator recorded it: one per `to`
// recipient of each personalization, with that personalization's subject,
// custom args and headers merged over the message-wide ones.
type Email struct {
	MessageID string `json:"message_id"`
	// SGMessageID is the sg_message_id of this recipient's events:
	// MessageID, a dot, and the recipient's position in the request.
	SGMessageID string `json:"sg_message_id"`
	To          string `json:"to"`
	From        string `json:"from"`
	// ReplyTo is the mail's reply_to with this recipient's substitutions
	// applied, as SendGrid writes the Reply-To header.
	ReplyTo             string            `json:"reply_to,omitempty"`
	Subject             string            `json:"subject"`
	Text                string            `json:"text"`
	HTML                string            `json:"html"`
	CustomArgs          map[string]string `json:"custom_args"`
	Headers             map[string]string `json:"headers"`
	TemplateID          string            `json:"template_id,omitempty"`
	DynamicTemplateData map[string]any    `json:"dynamic_template_data,omitempty"`
	Categories          []string          `json:"categories,omitempty"`
	ASMGroupID          int               `json:"asm_group_id,omitempty"`
	Attachments         []Attachment      `json:"attachments,omitempty"`
	// Fault is the injected fault applied to an email that was recorded
	// anyway (503_after_accept, timeout_after_accept); empty normally.
	Fault     FaultKind `json:"fault,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// emailStore keeps accepted mail/send requests in send order. A request
// is kept as the bytes that came (decoded and validated on arrival, then
// dropped), and written out as one Email per recipient only when a test
// reads them: recording 1,000 recipients costs one slice append, and the
// kept bytes hold no pointers for the garbage collector to trace.
type emailStore struct {
	mu      sync.RWMutex
	records []mailRecord
	count   int
}

// mailRecord is one accepted mail/send request.
type mailRecord struct {
	id    string
	at    time.Time
	fault FaultKind
	raw   []byte
	count int // recipients
}

// emails writes the record out, one Email per recipient.
func (r mailRecord) emails() ([]Email, error) {
	var m sgMail
	if err := json.Unmarshal(r.raw, &m); err != nil {
		return nil, fmt.Errorf("decoding recorded mail %s: %w", r.id, err)
	}
	return expand(&m, r.id, r.at, r.fault), nil
}

func (st *emailStore) add(r mailRecord) {
	st.mu.Lock()
	st.records = append(st.records, r)
	st.count += r.count
	st.mu.Unlock()
}

func (st *emailStore) length() int {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.count
}

func (st *emailStore) at(positions []int) []Email {
	st.mu.RLock()
	records := slices.Clone(st.records)
	st.mu.RUnlock()
	var out []Email
	for _, p := range positions {
		first := 0
		for _, r := range records {
			if p < first+r.count {
				es, err := r.emails()
				if err != nil {
					panic(err) // the bytes decoded when they were accepted
				}
				out = append(out, es[p-first])
				break
			}
			first += r.count
		}
	}
	return out
}

func (st *emailStore) bytes() int {
	st.mu.RLock()
	defer st.mu.RUnlock()
	n := 0
	for _, r := range st.records {
		n += len(r.raw)
	}
	return n
}

func (st *emailStore) list() []Email {
	st.mu.RLock()
	records := slices.Clone(st.records)
	st.mu.RUnlock()
	out := make([]Email, 0, len(records))
	for _, r := range records {
		es, err := r.emails()
		if err != nil {
			// The bytes decoded when they were accepted; they cannot fail now.
			panic(err)
		}
		out = append(out, es...)
	}
	return out
}

func (st *emailStore) reset() {
	st.mu.Lock()
	st.records, st.count = nil, 0
	st.mu.Unlock()
}

// sgAddress, sgPersonalization and sgMail are the parts of sendgrid-go's
// mail.SGMailV3 JSON the simulator reads.
type sgAddress struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

type sgPersonalization struct {
	To                  []*sgAddress      `json:"to"`
	From                *sgAddress        `json:"from"`
	Subject             string            `json:"subject"`
	Headers             map[string]string `json:"headers"`
	CustomArgs          map[string]string `json:"custom_args"`
	DynamicTemplateData map[string]any    `json:"dynamic_template_data"`
	// Substitutions replace literal tags in subject and content for this
	// personalization's recipients, as SendGrid does.
	Substitutions map[string]string `json:"substitutions"`
}

type sgContent struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type sgMail struct {
	From             *sgAddress           `json:"from"`
	ReplyTo          *sgAddress           `json:"reply_to"`
	Subject          string               `json:"subject"`
	Personalizations []*sgPersonalization `json:"personalizations"`
	Content          []*sgContent         `json:"content"`
	TemplateID       string               `json:"template_id"`
	Headers          map[string]string    `json:"headers"`
	CustomArgs       map[string]string    `json:"custom_args"`
	Categories       []string             `json:"categories"`
	ASM              *struct {
		GroupID int `json:"group_id"`
	} `json:"asm"`
	Attachments []Attachment `json:"attachments"`
}

// Attachment is a file sent with an email, as mail/send takes it
// (content in base64).
type Attachment struct {
	Filename    string `json:"filename"`
	Type        string `json:"type"`
	Content     string `json:"content"`
	Disposition string `json:"disposition,omitempty"`
}

// sgError is one entry of SendGrid's error body.
type sgError struct {
	Message string  `json:"message"`
	Field   *string `json:"field"`
	Help    *string `json:"help"`
}

type sgErrors struct {
	Errors []sgError `json:"errors"`
}

func fieldError(field, msg string) sgError {
	help := sendGridErrorsHelp
	return sgError{Message: msg, Field: &field, Help: &help}
}

// unauthorizedMessage is SendGrid's answer to a missing or wrong API key.
const unauthorizedMessage = "The provided authorization grant is invalid, expired, or revoked"

func (s *Server) sendGridAuthorized(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, sendGridBearerPrefix) {
		return false
	}
	key := strings.TrimPrefix(h, sendGridBearerPrefix)
	if s.cfg.SendGridKey == "" {
		return key != ""
	}
	return subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.SendGridKey)) == 1
}

// sendGridFailure writes SendGrid's answer for a fault that rejects a send,
// reporting whether it did.
func sendGridFailure(w http.ResponseWriter, f Fault, m *sgMail) bool {
	switch f.Kind {
	case FaultRateLimited:
		h := w.Header()
		h.Set("X-RateLimit-Limit", "600")
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10))
		writeJSON(w, http.StatusTooManyRequests, sgErrors{Errors: []sgError{{Message: "too many requests"}}})
	case FaultServerError:
		writeJSON(w, http.StatusInternalServerError, sgErrors{Errors: []sgError{{Message: "internal server error"}}})
	case FaultUnauthorized:
		writeJSON(w, http.StatusUnauthorized, sgErrors{Errors: []sgError{{Message: unauthorizedMessage}}})
	case FaultForbidden:
		writeJSON(w, http.StatusForbidden, sgErrors{Errors: []sgError{{Message: "access forbidden"}}})
	case FaultInvalidEmail:
		field := "personalizations.0.to.0.email"
	find:
		for i, p := range m.Personalizations {
			for j, to := range p.To {
				if f.To == "" || strings.EqualFold(to.Email, f.To) {
					field = fmt.Sprintf("personalizations.%d.to.%d.email", i, j)
					break find
				}
			}
		}
		writeJSON(w, http.StatusBadRequest, sgErrors{Errors: []sgError{fieldError(field, "Does not contain a valid address.")}})
	default:
		return false
	}
	return true
}

func (s *Server) handleMailSend(w http.ResponseWriter, r *http.Request) {
	if !s.wait(w, r, maxMailBytes) {
		return
	}
	if !s.sendGridAuthorized(r) {
		writeJSON(w, http.StatusUnauthorized, sgErrors{Errors: []sgError{{Message: unauthorizedMessage}}})
		return
	}
	raw, err := readBody(w, r)
	var m sgMail
	if err == nil {
		err = json.Unmarshal(raw, &m)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, sgErrors{Errors: []sgError{{
			Message: "Bad Request",
		}}})
		return
	}
	if errs := validateMail(&m); len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, sgErrors{Errors: errs})
		return
	}
	fault, faulted := s.emailFaults.match(func(rule string) bool {
		for _, p := range m.Personalizations {
			for _, to := range p.To {
				if strings.EqualFold(to.Email, rule) {
					return true
				}
			}
		}
		return false
	})
	if sendGridFailure(w, fault, &m) {
		return
	}

	rec := mailRecord{id: newMessageID(), at: s.cfg.Clock().UTC(), raw: raw, count: recipients(&m)}
	if faulted {
		rec.fault = fault.Kind
	}
	s.emails.add(rec)
	s.queueAutoEvents(rec, &m)
	id := rec.id
	switch fault.Kind {
	case FaultUnavailableAfterAccept:
		writeJSON(w, http.StatusServiceUnavailable, sgErrors{Errors: []sgError{{Message: "service unavailable"}}})
	case FaultTimeoutAfterAccept:
		s.hold(r, s.holdFor(fault))
	default:
		w.Header().Set("X-Message-Id", id)
		w.WriteHeader(http.StatusAccepted)
	}
}

// readBody reads a mail/send body whole, up to SendGrid's size limit, in
// one allocation when the client said how long it is.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, maxMailBytes)
	if n := r.ContentLength; n > 0 && n <= maxMailBytes {
		buf := make([]byte, n)
		if _, err := io.ReadFull(body, buf); err != nil {
			return nil, fmt.Errorf("reading mail body: %w", err)
		}
		return buf, nil
	}
	buf, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("reading mail body: %w", err)
	}
	return buf, nil
}

// recipients counts a validated request's recipients.
func recipients(m *sgMail) int {
	n := 0
	for _, p := range m.Personalizations {
		n += len(p.To)
	}
	return n
}

// expand writes a request out as SendGrid delivers it: one Email per `to`
// recipient of each personalization, with that personalization's subject,
// custom args and headers merged over the message-wide ones and its
// substitutions applied.
func expand(m *sgMail, id string, at time.Time, fault FaultKind) []Email {
	var text, html string
	for _, c := range m.Content {
		switch c.Type {
		case "text/plain":
			text = c.Value
		case "text/html":
			html = c.Value
		}
	}
	out := envelopes(m, id)
	k := 0
	for _, p := range m.Personalizations {
		from := m.From
		if p.From != nil && p.From.Email != "" {
			from = p.From
		}
		subject := m.Subject
		if p.Subject != "" {
			subject = p.Subject
		}
		sub := substituter(p.Substitutions)
		replyTo := ""
		if m.ReplyTo != nil {
			replyTo = sub.Replace(m.ReplyTo.Email)
		}
		for range p.To {
			e := &out[k]
			k++
			e.From, e.ReplyTo, e.Subject = from.Email, replyTo, sub.Replace(subject)
			e.Text, e.HTML = sub.Replace(text), sub.Replace(html)
			e.Headers, e.TemplateID, e.DynamicTemplateData = merge(m.Headers, p.Headers), m.TemplateID, p.DynamicTemplateData
			e.Attachments, e.Fault, e.CreatedAt = slices.Clone(m.Attachments), fault, at
		}
	}
	return out
}

// envelopes is each recipient of a request without the content: the
// address, the ids, the custom args and categories and the unsubscribe
// group, all that SendGrid's events about the recipient carry. Events
// are made from these: rendering each member's 12 KB email only to say
// it was delivered would make the simulator, not the platform, what a
// benchmark with events measures.
func envelopes(m *sgMail, id string) []Email {
	asm := 0
	if m.ASM != nil {
		asm = m.ASM.GroupID
	}
	out := make([]Email, 0, recipients(m))
	for _, p := range m.Personalizations {
		args := merge(m.CustomArgs, p.CustomArgs)
		for _, to := range p.To {
			out = append(out, Email{
				MessageID:   id,
				SGMessageID: id + "." + strconv.Itoa(len(out)),
				To:          to.Email,
				CustomArgs:  maps.Clone(args),
				Categories:  slices.Clone(m.Categories),
				ASMGroupID:  asm,
			})
		}
	}
	return out
}

// validateMail applies SendGrid's checks for the fields the platform uses.
func validateMail(m *sgMail) []sgError {
	var errs []sgError
	switch n := len(m.Personalizations); {
	case n == 0:
		errs = append(errs, fieldError("personalizations",
			"The personalizations field is required and must have at least one personalization."))
	case n > maxPersonalizations:
		errs = append(errs, fieldError("personalizations",
			"The personalizations field must have no more than 1000 personalizations."))
	}
	for i, p := range m.Personalizations {
		if p == nil {
			errs = append(errs, fieldError(fmt.Sprintf("personalizations.%d", i),
				"Each personalization must be an object."))
			continue
		}
		if len(p.To) == 0 {
			errs = append(errs, fieldError(fmt.Sprintf("personalizations.%d.to", i),
				"The to array is required for all personalization objects, and must have at least one email object with a valid email address."))
		}
		for j, to := range p.To {
			if to == nil || !validEmail(to.Email) {
				errs = append(errs, fieldError(fmt.Sprintf("personalizations.%d.to.%d.email", i, j),
					"Does not contain a valid address."))
			}
		}
	}
	// Every personalization needs a sender: its own or the message's.
	missingFrom := m.From == nil || m.From.Email == ""
	if missingFrom && len(m.Personalizations) > 0 {
		missingFrom = false
		for _, p := range m.Personalizations {
			if p != nil && (p.From == nil || p.From.Email == "") {
				missingFrom = true
			}
		}
	}
	if missingFrom {
		errs = append(errs, fieldError("from.email",
			"The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter."))
	}
	if m.From != nil && m.From.Email != "" && !validEmail(m.From.Email) {
		errs = append(errs, fieldError("from.email", "The from email does not contain a valid address."))
	}
	if m.TemplateID == "" {
		if len(m.Content) == 0 {
			errs = append(errs, fieldError("content",
				"Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required."))
		}
		for i, c := range m.Content {
			if c == nil || c.Type == "" || c.Value == "" {
				errs = append(errs, fieldError(fmt.Sprintf("content.%d", i),
					"The content value must be a string at least one character in length, with a type."))
			}
		}
	}
	return errs
}

// validEmail is a loose address check: something@something.
func validEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n")
}

// merge returns base overlaid with over, or nil when both are empty.
func merge(base, over map[string]string) map[string]string {
	if len(base) == 0 && len(over) == 0 {
		return nil
	}
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// newMessageID returns a random id shaped like SendGrid's X-Message-Id.
func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// handleEmails lists the recorded emails; with ?at=0,5,9 only those at
// the positions given (as EmailsAt), so a benchmark in another process
// can check a few of a hundred thousand without all of them written out.
func (s *Server) handleEmails(w http.ResponseWriter, r *http.Request) {
	at := r.URL.Query().Get("at")
	if at == "" {
		writeJSON(w, http.StatusOK, struct {
			Emails []Email `json:"emails"`
		}{Emails: s.Emails()})
		return
	}
	var positions []int
	for _, f := range strings.Split(at, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p < 0 {
			writeJSON(w, http.StatusBadRequest, errorJSON{Error: fmt.Sprintf("at: %q is not a position", f)})
			return
		}
		positions = append(positions, p)
	}
	writeJSON(w, http.StatusOK, struct {
		Emails []Email `json:"emails"`
	}{Emails: s.EmailsAt(positions...)})
}

func (s *Server) handleEmailsReset(w http.ResponseWriter, _ *http.Request) {
	s.ResetEmails()
	w.WriteHeader(http.StatusNoContent)
}

// substituter applies a personalization's substitution tags.
func substituter(subs map[string]string) *strings.Replacer {
	pairs := make([]string, 0, 2*len(subs))
	for tag, value := range subs {
		pairs = append(pairs, tag, value)
	}
	return strings.NewReplacer(pairs...)
}
