package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// ErrNoInboundParseURL is returned by SendEmailReply when
// Config.InboundParseURL is empty.
var ErrNoInboundParseURL = errors.New("inbound parse url not configured")

// EmailReply is an email a member sends to the platform's reply address,
// as /sim/sendgrid/reply takes it. MessageID is the mail's Message-ID
// header; empty makes one up. Attachments adds that many small files.
type EmailReply struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Subject     string `json:"subject"`
	Text        string `json:"text"`
	HTML        string `json:"html,omitempty"`
	MessageID   string `json:"message_id,omitempty"`
	Attachments int    `json:"attachments,omitempty"`
	// Headers are more header lines ("Auto-Submitted: auto-replied" for
	// an out-of-office answer).
	Headers map[string]string `json:"headers,omitempty"`
}

// Answer is the reply a member's mail client writes to an email the
// simulator delivered: to its Reply-To (else its From), under "Re:",
// with text above the original quoted the way Gmail quotes it.
func (e Email) Answer(text string) EmailReply {
	to := e.ReplyTo
	if to == "" {
		to = e.From
	}
	var quoted strings.Builder
	for line := range strings.Lines(e.Text) {
		quoted.WriteString("> " + line)
	}
	return EmailReply{
		From: e.To, To: to, Subject: "Re: " + e.Subject,
		Text: text + "\n\nOn Mon, Dec 1, 2026 at 9:00 AM " + e.From + " wrote:\n" + quoted.String() + "\n",
	}
}

// SendEmailReply posts r to Config.InboundParseURL as SendGrid's Inbound
// Parse does (its parsed, default format), and returns the status the
// platform answered.
func (s *Server) SendEmailReply(ctx context.Context, r EmailReply) (int, error) {
	if s.cfg.InboundParseURL == "" {
		return 0, ErrNoInboundParseURL
	}
	if r.From == "" || r.To == "" {
		return 0, errors.New("an email reply needs from and to")
	}
	if r.MessageID == "" {
		r.MessageID = newSID("MID") + "@mail.example.org"
	}
	body, contentType, err := InboundParseBody(r)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.InboundParseURL, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "Sendlib/1.0 (simulator)")
	resp, err := s.httpc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("posting inbound parse: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxWebhookResponse))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// InboundParseBody is the multipart/form-data body Inbound Parse posts
// for r: its documented fields, and one file part per attachment.
func InboundParseBody(r EmailReply) (*bytes.Buffer, string, error) {
	env, err := json.Marshal(map[string]any{"to": []string{r.To}, "from": r.From})
	if err != nil {
		return nil, "", err
	}
	headers := "Received: by mx.sendgrid.net with SMTP\r\nMessage-ID: <" + r.MessageID + ">\r\nFrom: " + r.From +
		"\r\nTo: " + r.To + "\r\nSubject: " + r.Subject + "\r\nMIME-Version: 1.0\r\n"
	for _, k := range slices.Sorted(maps.Keys(r.Headers)) {
		headers += k + ": " + r.Headers[k] + "\r\n"
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fields := [][2]string{
		{"headers", headers}, {"dkim", "{@" + domainOf(r.From) + " : pass}"}, {"to", r.To}, {"from", r.From},
		{"text", r.Text}, {"html", r.HTML}, {"sender_ip", "192.0.2.1"}, {"envelope", string(env)},
		{"attachments", strconv.Itoa(r.Attachments)}, {"subject", r.Subject}, {"spam_score", "0.0"},
		{"charsets", `{"to":"UTF-8","html":"UTF-8","subject":"UTF-8","from":"UTF-8","text":"UTF-8"}`}, {"SPF", "pass"},
	}
	for _, f := range fields {
		if f[0] == "html" && f[1] == "" {
			continue
		}
		if err := w.WriteField(f[0], f[1]); err != nil {
			return nil, "", err
		}
	}
	for i := range r.Attachments {
		fw, err := w.CreateFormFile("attachment"+strconv.Itoa(i+1), "photo"+strconv.Itoa(i+1)+".jpg")
		if err != nil {
			return nil, "", err
		}
		_, _ = fw.Write(bytes.Repeat([]byte{0xff, 0xd8}, 512))
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return &buf, w.FormDataContentType(), nil
}

func domainOf(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}

func (s *Server) handleEmailReply(w http.ResponseWriter, r *http.Request) {
	var req EmailReply
	if !decodeControl(w, r, &req) {
		return
	}
	code, err := s.SendEmailReply(r.Context(), req)
	switch {
	case errors.Is(err, ErrNoInboundParseURL):
		writeJSON(w, http.StatusConflict, errorJSON{Error: err.Error()})
	case err != nil:
		writeJSON(w, http.StatusBadGateway, errorJSON{Error: err.Error()})
	default:
		writeJSON(w, http.StatusOK, map[string]int{"status_code": code})
	}
}
