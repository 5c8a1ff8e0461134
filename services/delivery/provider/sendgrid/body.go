package sendgrid

import "unicode/utf8"

// The mail/send body is written here directly rather than through
// sendgrid-go's mail helpers and encoding/json: a batch of 1,000
// personalizations built that way costs three maps and a reflective walk
// per recipient, which the profile showed as a large share of the
// pipeline's CPU. The JSON is the same document the helpers produce (the
// tests decode both and compare); it still goes out through sendgrid-go's
// REST client.

// body returns the mail/send JSON for a batch sent from the given sender.
func body(fromName, fromEmail string, b Batch) []byte {
	out := make([]byte, 0, bodySize(fromName, fromEmail, b))
	out = append(out, `{"from":`...)
	out = appendAddress(out, fromName, fromEmail)
	if b.Subject != "" {
		out = append(out, `,"subject":`...)
		out = appendString(out, b.Subject)
	}
	if b.ReplyTo != "" {
		out = append(out, `,"reply_to":`...)
		out = appendAddress(out, "", b.ReplyTo)
	}
	out = append(out, `,"personalizations":[`...)
	for i, r := range b.Recipients {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendPersonalization(out, r)
	}
	out = append(out, ']')
	out = appendContent(out, b.Text, b.HTML)
	out = appendAttachments(out, b.Attachments)
	return append(out, '}')
}

// bodySize estimates the body's length, so it is built in one allocation.
func bodySize(fromName, fromEmail string, b Batch) int {
	n := 128 + len(fromName) + len(fromEmail) + len(b.Subject) + len(b.ReplyTo) + len(b.Text) + len(b.HTML)
	for _, a := range b.Attachments {
		n += 96 + len(a.Filename) + len(a.ContentType) + len(a.Content)
	}
	for _, r := range b.Recipients {
		n += 96 + len(r.Email)
		for _, fs := range [][]Field{r.Headers, r.Substitutions, r.CustomArgs} {
			for _, f := range fs {
				n += 8 + len(f.Name) + len(f.Value)
			}
		}
	}
	return n + n/16 // room for escapes
}

func appendPersonalization(out []byte, r Recipient) []byte {
	out = append(out, `{"to":[`...)
	out = appendAddress(out, "", r.Email)
	out = append(out, ']')
	out = appendObject(out, "headers", r.Headers)
	out = appendObject(out, "substitutions", r.Substitutions)
	out = appendObject(out, "custom_args", r.CustomArgs)
	return append(out, '}')
}

// appendAddress writes an email object; like sendgrid-go it leaves out an
// empty name.
func appendAddress(out []byte, name, email string) []byte {
	out = append(out, '{')
	if name != "" {
		out = append(out, `"name":`...)
		out = appendString(out, name)
		out = append(out, ',')
	}
	out = append(out, `"email":`...)
	out = appendString(out, email)
	return append(out, '}')
}

// appendObject writes `,"key":{...}` for a string map; nothing when there
// are no fields (sendgrid-go omits empty maps). A repeated name is written
// once, with its last value, as a map would hold it.
func appendObject(out []byte, key string, fs []Field) []byte {
	if len(fs) == 0 {
		return out
	}
	out = append(out, ',', '"')
	out = append(out, key...)
	out = append(out, `":{`...)
	first := true
	for i, f := range fs {
		if repeatedLater(fs[i+1:], f.Name) {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = appendString(out, f.Name)
		out = append(out, ':')
		out = appendString(out, f.Value)
	}
	return append(out, '}')
}

func repeatedLater(fs []Field, name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}

func appendContent(out []byte, text, html string) []byte {
	if text == "" && html == "" {
		return out
	}
	out = append(out, `,"content":[`...)
	if text != "" {
		out = append(out, `{"type":"text/plain","value":`...)
		out = appendString(out, text)
		out = append(out, '}')
	}
	if html != "" {
		if text != "" {
			out = append(out, ',')
		}
		out = append(out, `{"type":"text/html","value":`...)
		out = appendString(out, html)
		out = append(out, '}')
	}
	return append(out, ']')
}

func appendAttachments(out []byte, as []Attachment) []byte {
	if len(as) == 0 {
		return out
	}
	out = append(out, `,"attachments":[`...)
	for i, a := range as {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"content":`...)
		out = appendString(out, a.Content)
		out = append(out, `,"type":`...)
		out = appendString(out, a.ContentType)
		out = append(out, `,"filename":`...)
		out = appendString(out, a.Filename)
		out = append(out, `,"disposition":"attachment"}`...)
	}
	return append(out, ']')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Quotes, backslashes and control
// characters are escaped, as are U+2028 and U+2029 (encoding/json does the
// same); invalid UTF-8 becomes U+FFFD, as encoding/json would write it.
func appendString(out []byte, s string) []byte {
	out = append(out, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			out = append(out, s[start:i]...)
			out = appendEscape(out, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			out = append(out, s[start:i]...)
			out = append(out, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			out = append(out, s[start:i]...)
			out = append(out, `\u202`...)
			out = append(out, hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	out = append(out, s[start:]...)
	return append(out, '"')
}

// appendEscape writes the escape for an ASCII quote, backslash or control
// character.
func appendEscape(out []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(out, '\\', c)
	case '\n':
		return append(out, '\\', 'n')
	case '\r':
		return append(out, '\\', 'r')
	case '\t':
		return append(out, '\\', 't')
	}
	return append(out, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}
