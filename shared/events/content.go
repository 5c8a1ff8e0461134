package events

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// Content is one campaign step's rendered email in one language, with the
// member's own merge fields left as tags: what every member of the step
// shares. It is stored once, under its hash (ContentSubject), and each
// send request names it (SendRequested.ContentRef) with the member's own
// values (SendRequested.MergeValues), so a 15 KB alert travels once per
// step rather than once per member. Content is immutable: an edited
// campaign renders a new Content under a new hash, and a request already
// published still names the one it was built with.
type Content struct {
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html,omitempty"`
	// Merge names the member's merge slots in order ("first_name",
	// "first_name|friend" for one with a default): slot i is written in
	// Subject and Text as MergeTag(i, false) and in HTML as MergeTag(i,
	// true), and a request's MergeValues[i] is its value, unescaped.
	Merge       []string     `json:"merge,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
}

// MergeTag is the tag slot i is written as: one for the text parts (and
// the subject), where the value goes in as it is, and one for the HTML
// part, where it goes in escaped. The template language refuses "{{"
// with any name it does not know, so an organizer's words cannot hold a
// tag by accident.
func MergeTag(i int, html bool) string {
	part := "text"
	if html {
		part = "html"
	}
	return "{{m" + strconv.Itoa(i) + "." + part + "}}"
}

// Ref is the content's address: "sha256:" and the hex SHA-256 of its wire
// form. Equal content has equal refs, and a ref names exactly one content.
func (c Content) Ref() (string, []byte, error) {
	data, err := Encode(c)
	if err != nil {
		return "", nil, fmt.Errorf("encoding content: %w", err)
	}
	return RefOf(data), data, nil
}

// RefOf is the ref of content in its wire form.
func RefOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ContentSubject is where the content with ref is stored in StreamContent.
// The ref's colon is not a subject character NATS forbids, but a dot
// would be; refs have none.
func ContentSubject(ref string) string {
	return SubjectContentPrefix + strings.TrimPrefix(ref, "sha256:")
}

// ValidRef reports whether ref has the form Ref makes.
func ValidRef(ref string) bool {
	h, ok := strings.CutPrefix(ref, "sha256:")
	if !ok || len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil && h == strings.ToLower(h)
}
