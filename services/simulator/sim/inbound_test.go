package sim

import (
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// A member's reply reaches the Inbound Parse URL as SendGrid posts it:
// multipart/form-data with the documented fields, and attachments as files.
func TestSendEmailReplyPostsInboundParseFields(t *testing.T) {
	got := map[string]string{}
	files := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil {
			t.Error(err)
			return
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			if p.FileName() != "" {
				files++
				continue
			}
			b, _ := io.ReadAll(p)
			got[p.FormName()] = string(b)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	s := New(Config{InboundParseURL: srv.URL + "/webhooks/sendgrid/inbound/s3cret"}, zap.NewNop())
	defer s.Close()
	e := Email{To: "ana@local1199.org", From: "alerts@local1199.org", ReplyTo: "reply+x@replies.local1199.org", Subject: "Vote", Text: "Vote Thursday\nUnsubscribe: x"}
	r := e.Answer("unsubscribe")
	r.Attachments = 2
	code, err := s.SendEmailReply(context.Background(), r)
	if err != nil || code != http.StatusOK {
		t.Fatalf("SendEmailReply = %d, %v", code, err)
	}
	if got["from"] != "ana@local1199.org" || got["to"] != "reply+x@replies.local1199.org" || got["subject"] != "Re: Vote" ||
		!strings.HasPrefix(got["text"], "unsubscribe\n\nOn ") || !strings.Contains(got["text"], "> Unsubscribe: x") ||
		!strings.Contains(got["headers"], "Message-ID: <") || !strings.Contains(got["envelope"], `"to":["reply+x@replies.local1199.org"]`) || files != 2 {
		t.Fatalf("posted %v with %d files", got, files)
	}
	if _, err := New(Config{}, zap.NewNop()).SendEmailReply(context.Background(), r); err != ErrNoInboundParseURL {
		t.Fatalf("without a URL: %v", err)
	}
}
