// Package unsubscribe gives every email a one-click way out: a signed
// token in the link (no login), a confirmation page, and the RFC 8058
// one-click POST that mail clients send for List-Unsubscribe-Post. An
// unsubscribe is honoured at once, not within the two days Gmail allows.
package unsubscribe

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/logging"
	"github.com/musterhq/muster/shared/secret"
	"github.com/musterhq/muster/shared/web"
)

// Path is where links point.
const Path = "/unsubscribe"

// Signer makes and checks tokens.
type Signer struct {
	keys      secret.Keyring
	publicURL string
	// sealID and seal are the current key's id and cipher, made once:
	// deriving the key and expanding it for AES cost more than sealing,
	// and every email of a batch seals a token.
	sealID secret.KeyID
	seal   cipher.AEAD
}

// NewSigner builds a signer; links are built on publicURL. The keyring's
// current key seals new tokens; every key opens them, so keys rotate
// without breaking links in old emails.
func NewSigner(keys secret.Keyring, publicURL string) *Signer {
	s := &Signer{keys: keys, publicURL: strings.TrimRight(publicURL, "/")}
	if len(keys.All()) > 0 {
		var key []byte
		s.sealID, key = keys.Current()
		s.seal = aead(key)
	}
	return s
}

// Subject is who a token unsubscribes: an email address, and the message
// the link came in, for the record.
type Subject struct {
	Address   string
	MessageID string
}

// tokenV2 starts every sealed token. Tokens without it are version 1:
// the address in base64 and an HMAC, still honoured.
const tokenV2 = "2."

// Token seals a subject: the address and message id are encrypted and
// authenticated (AES-256-GCM), under the current key, whose id the token
// carries. A forwarded email or a proxy log shows no address. It does not
// expire: an unsubscribe link in an old email must still work.
func (s *Signer) Token(sub Subject) string {
	id := s.sealID
	plain := sub.Address + "\n" + sub.MessageID
	b := make([]byte, secret.KeyIDLength+12, secret.KeyIDLength+12+len(plain)+16)
	copy(b, id[:])
	nonce := b[secret.KeyIDLength:]
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails on supported platforms
	b = s.seal.Seal(b, nonce, []byte(plain), id[:])
	return tokenV2 + base64.RawURLEncoding.EncodeToString(b)
}

// URL is the unsubscribe link for a subject.
func (s *Signer) URL(sub Subject) string {
	return s.publicURL + Path + "?t=" + url.QueryEscape(s.Token(sub))
}

// ErrBadToken is a token that was not made here or was altered.
var ErrBadToken = errors.New("unsubscribe link is not valid")

// Parse checks a token and returns its subject.
func (s *Signer) Parse(token string) (Subject, error) {
	var plain string
	if rest, ok := strings.CutPrefix(token, tokenV2); ok {
		b, err := base64.RawURLEncoding.DecodeString(rest)
		if err != nil || len(b) < secret.KeyIDLength+12+16 {
			return Subject{}, ErrBadToken
		}
		var id secret.KeyID
		copy(id[:], b)
		key, ok := s.keys.Lookup(id)
		if !ok {
			return Subject{}, ErrBadToken
		}
		nonce, sealed := b[secret.KeyIDLength:secret.KeyIDLength+12], b[secret.KeyIDLength+12:]
		raw, err := aead(key).Open(nil, nonce, sealed, id[:])
		if err != nil {
			return Subject{}, ErrBadToken
		}
		plain = string(raw)
	} else if plain = s.parseV1(token); plain == "" {
		return Subject{}, ErrBadToken
	}
	addr, msg, _ := strings.Cut(plain, "\n")
	if addr == "" {
		return Subject{}, ErrBadToken
	}
	return Subject{Address: addr, MessageID: msg}, nil
}

// parseV1 reads a token from before sealing (the address in base64 and an
// HMAC), made with any key of the ring; "" when it is not one.
func (s *Signer) parseV1(token string) string {
	payload, sum, ok := strings.Cut(token, ".")
	if !ok {
		return ""
	}
	for _, key := range s.keys.All() {
		if hmac.Equal([]byte(sum), []byte(macV1(key, payload))) {
			raw, err := base64.RawURLEncoding.DecodeString(payload)
			if err != nil {
				return ""
			}
			return string(raw)
		}
	}
	return ""
}

func macV1(key []byte, payload string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("unsubscribe\n" + payload))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// aead is AES-256-GCM under a key derived from a keyring key, so the
// sealing key is never the raw secret.
func aead(key []byte) cipher.AEAD {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("muster unsubscribe token v2"))
	block, _ := aes.NewCipher(m.Sum(nil)) // a 32-byte key is always valid
	gcm, _ := cipher.NewGCM(block)        // the standard nonce size is always valid
	return gcm
}

// Unsubscriber records an unsubscribe (suppression and consent event).
type Unsubscriber interface {
	Unsubscribe(ctx context.Context, sub Subject, how string) error
}

// Handler serves the link.
type Handler struct {
	signer  *Signer
	unsub   Unsubscriber
	orgName func() string
	log     *zap.Logger
}

// NewHandler builds the pages; orgName reads the organization's name
// at each request, so a name an admin saves shows at once.
func NewHandler(s *Signer, u Unsubscriber, orgName func() string, log *zap.Logger) *Handler {
	return &Handler{signer: s, unsub: u, orgName: orgName, log: log}
}

// Routes mounts GET (a page asking to confirm, so link scanners that
// follow links cannot unsubscribe anyone) and POST (the confirmation, and
// RFC 8058 one-click).
// Both answer with the member-page headers (CSP, nosniff, no framing, no
// referrer).
func (h *Handler) Routes(r chi.Router) {
	page := r.With(web.MemberPages(pageStyle))
	page.Get(Path, h.confirm)
	page.Post(Path, h.unsubscribe)
}

// pageStyle is the page's one inline style; the Content-Security-Policy
// allows it by hash, so it must be written into the page exactly.
const pageStyle = `body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}
button{font-size:1rem;padding:.6rem 1.2rem;border:0;border-radius:.3rem;background:#1d4ed8;color:#fff;cursor:pointer}`

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Org}}: email preferences</title>
<style>` + pageStyle + `</style>
</head><body>
{{if .Done}}<h1>You are unsubscribed</h1><p>{{.Address}} will get no more email from {{.Org}}.</p>
{{else if .Bad}}<h1>This link does not work</h1><p>It may have been cut off by your email program. Reply to any email from {{.Org}} and we will take you off the list.</p>
{{else}}<h1>Unsubscribe?</h1><p>Stop all email from {{.Org}} to {{.Address}}.</p>
<form method="post"><button type="submit">Unsubscribe</button></form>{{end}}
</body></html>`))

type pageData struct {
	Org, Address string
	Done, Bad    bool
}

func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	sub, err := h.signer.Parse(r.URL.Query().Get("t"))
	if err != nil {
		h.render(w, http.StatusBadRequest, pageData{Org: h.orgName(), Bad: true})
		return
	}
	h.render(w, http.StatusOK, pageData{Org: h.orgName(), Address: sub.Address})
}

func (h *Handler) unsubscribe(w http.ResponseWriter, r *http.Request) {
	sub, err := h.signer.Parse(r.URL.Query().Get("t"))
	if err != nil {
		h.log.Warn("unsubscribe with a bad token")
		h.render(w, http.StatusBadRequest, pageData{Org: h.orgName(), Bad: true})
		return
	}
	how := "unsubscribe page"
	if r.PostFormValue("List-Unsubscribe") == "One-Click" {
		how = "one-click unsubscribe (RFC 8058)"
	}
	if err := h.unsub.Unsubscribe(r.Context(), sub, how); err != nil {
		id := web.RequestID(w, r)
		h.log.Error("unsubscribe failed", logging.Email("email", sub.Address), zap.String("request_id", id), zap.Error(err))
		http.Error(w, "We could not record that just now. Please try again in a minute. (reference "+id+")", http.StatusServiceUnavailable)
		return
	}
	h.render(w, http.StatusOK, pageData{Org: h.orgName(), Address: sub.Address, Done: true})
}

func (h *Handler) render(w http.ResponseWriter, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := page.Execute(w, d); err != nil {
		h.log.Warn("rendering unsubscribe page", zap.Error(err))
	}
}

// Header is one mail header.
type Header struct {
	Name  string
	Value string
}

// Headers are the List-Unsubscribe headers (RFC 2369 and RFC 8058) for a
// recipient whose link is link, as URL made it: the caller signs once and
// uses the link in the body too.
func Headers(link string) [2]Header {
	return [2]Header{
		{Name: "List-Unsubscribe", Value: "<" + link + ">"},
		{Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"},
	}
}
