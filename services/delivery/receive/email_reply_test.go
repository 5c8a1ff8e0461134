package receive

import "testing"

// What a member wrote, without the original they quote: the quoted footer
// of our own email says "Unsubscribe", and must never count as theirs.
func TestReplyTextDropsTheQuotedOriginal(t *testing.T) {
	for name, c := range map[string]struct{ body, want string }{
		"gmail, attribution on one line": {
			"Thanks, see you Thursday!\r\n\r\nOn Mon, Dec 1, 2026 at 9:00 AM Local 1199 <alerts@local1199.org> wrote:\r\n> Contract vote Thursday.\r\n>\r\n> Unsubscribe: https://muster.example/unsubscribe?t=x\r\n",
			"Thanks, see you Thursday!"},
		"gmail, attribution wrapped": {
			"I'll be there\n\nOn Mon, Dec 1, 2026 at 9:00 AM Local 1199 <\nalerts@local1199.org> wrote:\n\n> Vote. Unsubscribe: x\n",
			"I'll be there"},
		"spanish": {
			"Ahí estaré\n\nEl lun, 1 dic 2026 a las 9:00, Local 1199 (<alerts@local1199.org>) escribió:\n> Unsubscribe\n",
			"Ahí estaré"},
		"outlook original message": {
			"Count me in.\n\n-----Original Message-----\nFrom: Local 1199 <alerts@local1199.org>\nSent: Monday\nSubject: Vote\n\nUnsubscribe: https://x\n",
			"Count me in."},
		"outlook header block without separator": {
			"Yes\n\nFrom: Local 1199 <alerts@local1199.org>\nSent: Monday, December 1, 2026 9:00 AM\nTo: ana@example.org\nSubject: Vote\n\nReply STOP or Unsubscribe: https://x\n",
			"Yes"},
		"outlook underscores":   {"ok\n________________________________\nFrom: x\nunsubscribe", "ok"},
		"inline quotes dropped": {"> Unsubscribe: https://x\nsounds good", "sounds good"},
		"mobile signature":      {"unsubscribe\n\nSent from my iPhone", "unsubscribe"},
		"signature delimiter":   {"Please take me off this list\n-- \nAna Ruiz\nUnsubscribe from nothing", "Please take me off this list"},
		"answered below the quote": {
			"On Mon, Dec 1, 2026 at 9:00 AM Local 1199 <alerts@local1199.org> wrote:\n> Vote Thursday\n> Unsubscribe: x\n\nstop emailing me\n",
			"stop emailing me"},
		"only the quote":  {"On Mon, Dec 1, 2026, Local 1199 wrote:\n> Unsubscribe: x\n", ""},
		"no quote at all": {"Unsubscribe", "Unsubscribe"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := ReplyText(c.body); got != c.want {
				t.Errorf("ReplyText = %q, want %q", got, c.want)
			}
		})
	}
}

func TestReplySubjects(t *testing.T) {
	for s, want := range map[string]bool{"Re: Contract vote": true, "RE:Vote": true, "Fwd: x": true, "AW: x": true, "RV: Votación": true,
		"Unsubscribe": false, "Remove me": false, "": false} {
		if got := isReplySubject(s); got != want {
			t.Errorf("isReplySubject(%q) = %v", s, got)
		}
	}
}

func TestConfirmationInTheMembersLanguage(t *testing.T) {
	if _, text := confirmation("Local 1199", "es"); text != "Ya no recibirá más correos de Local 1199." {
		t.Errorf("Spanish confirmation = %q", text)
	}
	if subject, text := confirmation("Local 1199", "en"); text != "You will get no more emails from Local 1199." || subject != "You are unsubscribed from Local 1199" {
		t.Errorf("English confirmation = %q, %q", subject, text)
	}
}
