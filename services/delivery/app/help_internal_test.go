package app

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/musterhq/muster/services/delivery/settings"
)

// The default HELP replies tell a member about NIGHTS and PAUSE (NOCHES
// and PAUSA) and still how to stop, within 306 characters even for an
// organization name of the 100 characters settings allow.
func TestDefaultHelpNamesTheRhythmKeywords(t *testing.T) {
	c := DefaultConfig()
	c.OrgName = strings.Repeat("L", 100)
	s := c.settings()
	if _, err := settings.Parse(s); err != nil {
		t.Fatalf("default settings with a long name: %v", err)
	}
	for _, tt := range []struct {
		text string
		want []string
	}{
		{s.HelpText, []string{"NIGHTS", "PAUSE", "STOP"}},
		{s.HelpTextES, []string{"NOCHES", "PAUSA", "ALTO"}},
	} {
		if n := utf8.RuneCountInString(tt.text); n > 306 {
			t.Errorf("%q is %d characters, more than 306", tt.text, n)
		}
		for _, w := range tt.want {
			if !strings.Contains(tt.text, w) {
				t.Errorf("%q does not say %s", tt.text, w)
			}
		}
	}
}
