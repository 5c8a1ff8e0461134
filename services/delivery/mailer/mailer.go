// Package mailer is the email pipeline. Send requests are gathered for a
// moment into batches: one statement records and claims the whole batch
// (with the suppression check), requests with the same content share one
// provider call of up to 1,000 recipients, and one statement settles the
// batch. A campaign step's requests name its stored content (ContentRef)
// and carry only the member's merge values, so a whole batch of one step
// is one call whose body travels once: each member's merge values,
// unsubscribe link and List-Unsubscribe headers ride in their own
// recipient's substitutions. The pipeline speaks delivery's
// provider-neutral batch (provider.EmailBatch); provider/sendgrid
// translates.
package mailer

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"html"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/content"
	"github.com/musterhq/muster/services/delivery/pause"
	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/services/delivery/unsubscribe"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
)

// Sender sends one batch and returns the provider's id for it; the
// SendGrid client is one.
type Sender interface {
	Send(ctx context.Context, b provider.EmailBatch) (string, error)
}

// Contents reads a step's stored email content by its ref
// (content.Reader); content.ErrMissing when it is not stored yet.
type Contents interface {
	Get(ctx context.Context, ref string) (*events.Content, error)
}

// Publisher announces status changes.
type Publisher interface {
	Statuses(ctx context.Context, ms []store.Message)
}

// Config tunes batching.
type Config struct {
	// Linger is how long the first request of a batch waits for company.
	Linger time.Duration
	// MaxBatch bounds a batch (and so one provider call): 1,000 unless
	// set.
	MaxBatch int
	// Contents reads the content requests name; nil refuses such
	// requests (they wait for a delivery that can read them).
	Contents Contents
	// Parallel is how many batches are in progress at once: while one
	// waits on SendGrid, the next is being recorded.
	Parallel int
	// Prefs, when set, makes a member's preferences link (package prefs),
	// put in every email's footer beside the unsubscribe link.
	Prefs func(address string) string
	// ReplyDomain is the Inbound Parse host: with it each email's
	// Reply-To is ReplyAddress(ReplyDomain, message id), so a member's
	// reply reaches delivery and maps to the message it answers. Empty
	// sets no Reply-To (replies go to the From address).
	ReplyDomain string
	// Gate pauses email while SendGrid refuses our key; nil never
	// pauses.
	Gate *pause.Gate
}

// Mailer gathers and sends email.
type Mailer struct {
	cfg    Config
	store  *store.Store
	sender Sender
	pub    Publisher
	links  *unsubscribe.Signer
	log    *zap.Logger
	jobs   chan *job
	// seed keys the hash that buckets requests by content.
	seed maphash.Seed
}

type job struct {
	req events.SendRequested
	// content is what req names by ContentRef, nil for an inline request.
	content *events.Content
	done    chan error
}

// maxBatch is the most recipients one call carries by default
// (SendGrid's limit on personalizations).
const maxBatch = 1000

// missingWait is how long a request whose content is not stored yet waits
// before it is redelivered.
const missingWait = 2 * time.Second

// New builds a mailer; Run must be running for Handle to make progress.
func New(cfg Config, st *store.Store, sender Sender, pub Publisher, links *unsubscribe.Signer, log *zap.Logger) *Mailer {
	if cfg.Linger <= 0 {
		cfg.Linger = 5 * time.Millisecond
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = maxBatch
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	if cfg.Gate == nil {
		// Without metrics no label is read; the wiring names the provider.
		cfg.Gate = pause.New("email", "", nil, nil, log)
	}
	return &Mailer{cfg: cfg, store: st, sender: sender, pub: pub, links: links, log: log, jobs: make(chan *job, cfg.MaxBatch),
		seed: maphash.MakeSeed()}
}

// substitution is replaced per recipient by their unsubscribe link,
// prefsSubstitution by their preferences link.
const (
	substitution      = "-unsubscribe_url-"
	prefsSubstitution = "-prefs_url-"
)

// Handle is the stream handler for one email send request: it joins the
// next batch and returns that batch's outcome for it.
func (m *Mailer) Handle(ctx context.Context, msg stream.Msg) error {
	req, err := events.DecodeSendRequested(msg.Data)
	if err != nil {
		return stream.Permanent(err)
	}
	var c *events.Content
	if req.ContentRef != "" {
		if m.cfg.Contents == nil {
			return stream.Retry(errors.New("this delivery reads no stored email content"), missingWait)
		}
		c, err = m.cfg.Contents.Get(ctx, req.ContentRef)
		switch {
		case errors.Is(err, content.ErrMissing):
			// Campaigns stores a step's content before its requests;
			// should it ever be late, the request waits for it.
			return stream.Retry(err, missingWait)
		case err != nil:
			return stream.Retry(err, time.Second)
		}
	}
	if reason := invalid(req, c); reason != "" {
		return m.refuse(ctx, req, reason)
	}
	// While SendGrid refuses our key nothing is recorded or claimed: the
	// request waits on the stream for the next probe.
	if ok, wait := m.cfg.Gate.Allow(); !ok {
		return stream.Hold(pause.ErrPaused, wait)
	}
	j := &job{req: req, content: c, done: make(chan error, 1)}
	select {
	case m.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func invalid(req events.SendRequested, c *events.Content) string {
	addr, err := mail.ParseAddress(req.To)
	if c != nil {
		req.Subject, req.Body, req.HTML = c.Subject, c.Text, c.HTML
	}
	switch {
	case c == nil && len(req.MergeValues) > 0:
		return "merge values without content to merge them into"
	case c != nil && len(req.MergeValues) != len(c.Merge):
		return fmt.Sprintf("%d merge values for content with %d merge fields", len(req.MergeValues), len(c.Merge))
	case mergeBytes(req.MergeValues) > maxMergeBytes:
		// Refused alone, rather than failing the whole batch's call.
		return "merge values too long"
	case err != nil || addr.Address != req.To || !strings.Contains(req.To[strings.LastIndexByte(req.To, '@')+1:], "."):
		return "recipient is not an email address"
	case strings.TrimSpace(req.Subject) == "":
		return "empty subject"
	case req.Body == "" && req.HTML == "":
		return "no text or HTML body"
	}
	return ""
}

func (m *Mailer) refuse(ctx context.Context, req events.SendRequested, reason string) error {
	msg, created, err := m.store.RecordFailed(ctx, req, reason)
	if err != nil {
		return stream.Retry(err, time.Second)
	}
	if created {
		m.log.Warn("email request refused", zap.String("idempotency_key", req.IdempotencyKey), zap.String("reason", reason))
		m.pub.Statuses(ctx, []store.Message{msg})
	}
	return nil
}

// Run gathers jobs into batches and processes them, Parallel at a time,
// until ctx ends; a batch already gathered is always finished.
func (m *Mailer) Run(ctx context.Context) {
	batches := make(chan []*job)
	var wg sync.WaitGroup
	for range m.cfg.Parallel {
		wg.Go(func() {
			for b := range batches {
				m.process(context.WithoutCancel(ctx), b)
			}
		})
	}
	defer wg.Wait()
	defer close(batches)
	for {
		var batch []*job
		select {
		case <-ctx.Done():
			return
		case j := <-m.jobs:
			batch = append(batch, j)
		}
		linger := time.After(m.cfg.Linger)
	gather:
		for len(batch) < m.cfg.MaxBatch {
			select {
			case j := <-m.jobs:
				batch = append(batch, j)
			case <-linger:
				break gather
			case <-ctx.Done():
				break gather
			}
		}
		batches <- batch
	}
}

// process records, sends and settles one batch, and answers every job.
func (m *Mailer) process(ctx context.Context, batch []*job) {
	reqs := make([]events.SendRequested, len(batch))
	for i, j := range batch {
		reqs[i] = j.req
		if j.req.ContentRef != "" {
			reqs[i].Body = LogBody(j.req.ContentRef, j.req.MergeValues)
		}
	}
	created, err := m.store.RecordAndClaimMany(ctx, reqs, nil)
	if err != nil {
		finish(batch, stream.Retry(err, time.Second))
		return
	}
	sends := make([]send, 0, len(batch))
	var announce []store.Message
	// A second copy of a request in the same batch (a redelivery meeting a
	// republish) is done: its first copy carries the message, and is
	// retried if it does not go.
	taken := make(map[string]bool, len(batch))
	for _, j := range batch {
		if taken[j.req.IdempotencyKey] {
			j.done <- nil
			continue
		}
		taken[j.req.IdempotencyKey] = true
		msg, ok := created[j.req.IdempotencyKey]
		if !ok {
			var err error
			if msg, ok, err = m.seenBefore(ctx, j.req); !ok {
				j.done <- err
				continue
			}
		}
		if msg.Status == status.Suppressed {
			announce = append(announce, msg)
			j.done <- nil
			continue
		}
		sends = append(sends, send{job: j, msg: msg})
	}
	m.pub.Statuses(ctx, announce)
	for _, g := range m.byContent(sends) {
		m.sendGroup(ctx, g)
	}
}

type send struct {
	job *job
	msg store.Message
}

// byContent groups sends that can share one mail/send (the same subject,
// bodies and attachments), in order of first appearance. Requests are
// bucketed by a fast hash and compared in full within a bucket: a
// cryptographic digest of every request's HTML cost far more, and
// comparing without buckets is quadratic when every body differs.
func (m *Mailer) byContent(sends []send) [][]send {
	// First each send's group, then the groups at their exact sizes: a
	// batch is usually one group of up to a thousand.
	of := make([]int, len(sends))
	var firsts []int // the first send of each group
	buckets := map[uint64][]int{}
next:
	for i, s := range sends {
		h := m.contentHash(s.job.req)
		for _, g := range buckets[h] {
			if sameContent(&sends[firsts[g]].job.req, &s.job.req) {
				of[i] = g
				continue next
			}
		}
		of[i] = len(firsts)
		buckets[h] = append(buckets[h], len(firsts))
		firsts = append(firsts, i)
	}
	sizes := make([]int, len(firsts))
	for _, g := range of {
		sizes[g]++
	}
	groups := make([][]send, len(firsts))
	for g := range groups {
		groups[g] = make([]send, 0, sizes[g])
	}
	for i, g := range of {
		groups[g] = append(groups[g], sends[i])
	}
	return groups
}

func (m *Mailer) contentHash(r events.SendRequested) uint64 {
	var h maphash.Hash
	h.SetSeed(m.seed)
	if r.ContentRef != "" {
		h.WriteString(r.ContentRef)
		return h.Sum64()
	}
	for _, part := range []string{r.Subject, r.Body, r.HTML} {
		h.WriteString(part)
		h.WriteByte(0)
	}
	for _, a := range r.Attachments {
		h.WriteString(a.Content)
		h.WriteByte(0)
	}
	return h.Sum64()
}

func sameContent(a, b *events.SendRequested) bool {
	if a.ContentRef != "" || b.ContentRef != "" {
		return a.ContentRef == b.ContentRef
	}
	return a.Subject == b.Subject && a.Body == b.Body && a.HTML == b.HTML && slices.Equal(a.Attachments, b.Attachments)
}

// seenBefore handles a request whose key was recorded earlier. One that
// is queued (SendGrid refused it with a 429 earlier) is claimed again and
// goes with this batch (ok true). One left in sending (a process died
// mid-call) is marked unknown, never resent. Anything else is done.
func (m *Mailer) seenBefore(ctx context.Context, req events.SendRequested) (store.Message, bool, error) {
	msg, err := m.store.ByKey(ctx, req.IdempotencyKey)
	if err != nil {
		return store.Message{}, false, stream.Retry(err, time.Second)
	}
	switch msg.Status {
	case status.Queued:
		st, err := m.store.Claim(ctx, msg.ID)
		if err != nil {
			return store.Message{}, false, stream.Retry(err, time.Second)
		}
		if st == "" {
			return store.Message{}, false, nil
		}
		msg.Status = st
		return msg, true, nil
	case status.Sending:
		moved, err := m.store.ApplyMany(ctx, []string{msg.ID}, store.Update{Status: status.Unknown, Reason: "interrupted during provider call; awaiting events"})
		if err != nil {
			return store.Message{}, false, stream.Retry(err, time.Second)
		}
		m.pub.Statuses(ctx, moved)
	}
	return store.Message{}, false, nil
}

func (m *Mailer) sendGroup(ctx context.Context, group []send) {
	b, ids := m.batch(group)
	xid, err := m.sender.Send(ctx, b)
	var u store.Update
	kind, code := provider.Classify(err)
	if kind != provider.Unauthorized {
		m.cfg.Gate.Accepted() // SendGrid took the key
	}
	if bad, rest, refused := splitRefused(group, err); refused != nil {
		// Nothing went out: the members named are at fault, the others
		// go again without them (a batch is never failed for one
		// member's address).
		badIDs := make([]string, len(bad))
		for i, s := range bad {
			badIDs[i] = s.msg.ID
		}
		moved, aerr := m.store.ApplyMany(ctx, badIDs, store.Update{Status: status.Failed, ErrorCode: refused.Code, Reason: refused.Err.Error()})
		if aerr != nil {
			finishSends(group, stream.Retry(aerr, time.Second))
			return
		}
		m.log.Warn("email recipients refused; sending the others", zap.Int("refused", len(bad)), zap.Int("others", len(rest)), zap.Error(err))
		m.pub.Statuses(ctx, moved)
		finishSends(bad, nil)
		m.sendGroup(ctx, rest)
		return
	}
	switch {
	case kind == provider.Unauthorized && err != nil:
		// Nothing went out and no member's mail is at fault: back in the
		// queue and the channel paused; the gate logs it once.
		for _, id := range ids {
			if err := m.store.Release(ctx, id); err != nil {
				finishSends(group, stream.Retry(err, time.Second))
				return
			}
		}
		wait := m.cfg.Gate.Refused(code, err)
		finishSends(group, stream.Hold(fmt.Errorf("%w: %w", pause.ErrPaused, err), wait))
		return
	case err == nil:
		u = store.Update{Status: status.Accepted, ProviderID: xid}
	case kind == provider.Retryable:
		for _, id := range ids {
			if err := m.store.Release(ctx, id); err != nil {
				finishSends(group, stream.Retry(err, time.Second))
				return
			}
		}
		m.log.Debug("email provider busy; retrying", zap.Int("recipients", len(ids)), zap.Error(err))
		finishSends(group, stream.Retry(err, 2*time.Second))
		return
	case kind == provider.Permanent:
		m.log.Warn("email batch refused", zap.Int("recipients", len(ids)), zap.String("code", code), zap.Error(err))
		u = store.Update{Status: status.Failed, ErrorCode: code, Reason: err.Error()}
	default:
		m.log.Warn("email batch outcome ambiguous; not resending", zap.Int("recipients", len(ids)), zap.Error(err))
		u = store.Update{Status: status.Unknown, ErrorCode: code, Reason: "ambiguous provider answer: " + err.Error()}
	}
	moved, err := m.store.ApplyMany(ctx, ids, u)
	if err != nil {
		// The call is done; a retry finds the rows in sending and marks
		// them unknown rather than resend.
		finishSends(group, stream.Retry(err, time.Second))
		return
	}
	m.pub.Statuses(ctx, moved)
	finishSends(group, nil)
}

// splitRefused splits a group the provider refused for some recipients
// only into those and the rest; refused is nil when err is not such a
// refusal or names every recipient (or one the batch does not have).
func splitRefused(group []send, err error) (bad, rest []send, refused *provider.RefusedRecipients) {
	if !errors.As(err, &refused) || len(refused.Index) == 0 || len(refused.Index) >= len(group) {
		return nil, nil, nil
	}
	at := make(map[int]bool, len(refused.Index))
	for _, i := range refused.Index {
		if i < 0 || i >= len(group) {
			return nil, nil, nil
		}
		at[i] = true
	}
	for i, s := range group {
		if at[i] {
			bad = append(bad, s)
		} else {
			rest = append(rest, s)
		}
	}
	return bad, rest, refused
}

// batch builds one mail/send for a group with the same content: each
// member gets their own ids and unsubscribe link, signed once for both the
// List-Unsubscribe header and the body.
func (m *Mailer) batch(group []send) (provider.EmailBatch, []string) {
	first := group[0].job.req
	var merge []mergeTags
	if c := group[0].job.content; c != nil {
		first.Subject, first.Body, first.HTML, first.Attachments = c.Subject, c.Text, c.HTML, c.Attachments
		merge = tagsFor(len(c.Merge))
	}
	prefs := m.cfg.Prefs != nil
	b := provider.EmailBatch{Subject: first.Subject, Text: withFooter(first.Body, false, prefs), HTML: withFooter(first.HTML, true, prefs),
		Recipients: make([]provider.EmailRecipient, len(group))}
	if m.cfg.ReplyDomain != "" {
		b.ReplyTo = ReplyAddress(m.cfg.ReplyDomain, replySubstitution)
	}
	for _, a := range first.Attachments {
		b.Attachments = append(b.Attachments, provider.EmailAttachment{Filename: a.Filename, ContentType: a.ContentType, Content: a.Content})
	}
	// One backing array for every recipient's substitutions.
	per := 1 + len(merge)*2
	if prefs {
		per++
	}
	if b.ReplyTo != "" {
		per++
	}
	subs := make([]provider.Field, 0, per*len(group))
	ids := make([]string, len(group))
	for i, s := range group {
		link := m.links.URL(unsubscribe.Subject{Address: s.msg.To, MessageID: s.msg.ID})
		h := unsubscribe.Headers(link)
		start := len(subs)
		subs = append(subs, provider.Field{Name: substitution, Value: link})
		if prefs {
			subs = append(subs, provider.Field{Name: prefsSubstitution, Value: m.cfg.Prefs(s.msg.To)})
		}
		if b.ReplyTo != "" {
			subs = append(subs, provider.Field{Name: replySubstitution, Value: s.msg.ID})
		}
		// The member's own values: as they are in the subject and the
		// text part, escaped in the HTML part.
		for k, v := range s.job.req.MergeValues {
			subs = append(subs, provider.Field{Name: merge[k].text, Value: v}, provider.Field{Name: merge[k].html, Value: html.EscapeString(v)})
		}
		b.Recipients[i] = provider.EmailRecipient{
			Email: s.msg.To,
			// Ids only: custom_args must carry no personal data.
			CustomArgs: []provider.Field{
				{Name: "message_id", Value: s.msg.ID}, {Name: "campaign_id", Value: s.msg.CampaignID}, {Name: "contact_id", Value: s.msg.ContactID},
			},
			Headers:       []provider.Field{{Name: h[0].Name, Value: h[0].Value}, {Name: h[1].Name, Value: h[1].Value}},
			Substitutions: subs[start:len(subs):len(subs)],
		}
		ids[i] = s.msg.ID
	}
	return b, ids
}

// maxMergeBytes bounds one member's merge values as they are sent (text
// and HTML-escaped): SendGrid refuses a whole mail/send when one
// personalization's substitutions pass 10,000 bytes, and the member's
// unsubscribe, preferences and reply substitutions need room beside them.
const maxMergeBytes = 8000

func mergeBytes(values []string) int {
	n := 0
	for _, v := range values {
		n += len(v) + len(html.EscapeString(v))
	}
	return n
}

// mergeTags are one merge slot's tags in the text parts and the HTML.
type mergeTags struct{ text, html string }

func tagsFor(n int) []mergeTags {
	out := make([]mergeTags, n)
	for i := range out {
		out[i] = mergeTags{text: events.MergeTag(i, false), html: events.MergeTag(i, true)}
	}
	return out
}

// LogBody is what the message log keeps as the body of an email that
// names stored content: the content's ref and the member's merge values,
// which together name exactly what the member got (the content is kept
// under its ref in the CONTENT stream). The retention purge and an
// erasure clear it as they clear any body.
func LogBody(ref string, values []string) string {
	var sb strings.Builder
	sb.WriteString(ref)
	for _, v := range values {
		sb.WriteByte('\n')
		sb.WriteString(strings.ReplaceAll(v, "\n", " "))
	}
	return sb.String()
}

// withFooter adds the unsubscribe link to a body that lacks one, and the
// preferences link when prefs is set and the body lacks it.
func withFooter(body string, html, prefs bool) string {
	if body == "" {
		return body
	}
	if prefs && !strings.Contains(body, prefsSubstitution) {
		if html {
			body += `<p style="font-size:12px;color:#666"><a href="` + prefsSubstitution + `">Choose when and how we reach you</a></p>`
		} else {
			body += "\n\nYour settings: " + prefsSubstitution
		}
	}
	if strings.Contains(body, substitution) {
		return body
	}
	if html {
		return body + `<p style="font-size:12px;color:#666"><a href="` + substitution + `">Unsubscribe</a></p>`
	}
	return body + "\n\nUnsubscribe: " + substitution
}

func finish(batch []*job, err error) {
	for _, j := range batch {
		j.done <- err
	}
}

func finishSends(group []send, err error) {
	for _, s := range group {
		s.job.done <- err
	}
}
