package mailer

import "testing"

func TestReplyAddressRoundTrip(t *testing.T) {
	id := "0190f3a2-7b1c-7d4e-8f00-0123456789ab"
	addr := ReplyAddress("replies.local1199.org", id)
	if addr != "reply+"+id+"@replies.local1199.org" {
		t.Fatalf("ReplyAddress = %q", addr)
	}
	for in, want := range map[string]string{
		addr: id,
		" REPLY+0190F3A2-7B1C-7D4E-8F00-0123456789AB@Replies.Local1199.org ": id, // folded by a mail system
		"reply+" + id + "@other.org":                                         "",
		"reply+not-an-id@replies.local1199.org":                              "",
		"alerts@replies.local1199.org":                                       "",
		"reply+" + id:                                                        "",
	} {
		if got := ReplyMessageID(in, "replies.local1199.org"); got != want {
			t.Errorf("ReplyMessageID(%q) = %q, want %q", in, got, want)
		}
	}
	if got := ReplyMessageID(addr, ""); got != "" {
		t.Errorf("with no reply domain, %q read as %q", addr, got)
	}
}
