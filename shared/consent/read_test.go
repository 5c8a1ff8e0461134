package consent

import (
	"strings"
	"testing"
	"unicode"
)

func TestReadTheIssuesExamples(t *testing.T) {
	cases := []struct {
		text string
		want Meaning
		lang string
	}{
		// Opt-outs a new user tried that were missed, and the issue's list.
		{"Please STOP", OptOut, English}, {"Stop please", OptOut, English}, {"STOP please", OptOut, English},
		{"unsubscribe please", OptOut, English}, {"I want to opt out", OptOut, English}, {"Stop 🛑", OptOut, English},
		{"🛑", OptOut, English}, {"Wrong number", OptOut, English}, {"ALTO", OptOut, Spanish}, {"PARAR", OptOut, Spanish},
		{"BAJA", OptOut, Spanish}, {"STOP!!!", OptOut, English}, {"stop it", OptOut, English}, {"pls stop", OptOut, English},
		{"stop stop stop", OptOut, English}, {"remove me from your list", OptOut, English},
		{"I want to unsubscribe", OptOut, English}, {"opt me out", OptOut, English}, {"delete my number", OptOut, English},
		{"I don't want these texts", OptOut, English}, {"stpo", OptOut, English}, {"stopp", OptOut, English},
		{"unsubcribe", OptOut, English}, {"unsuscribe", OptOut, English}, {"PARE", OptOut, Spanish},
		{"CANCELAR", OptOut, Spanish}, {"no más", OptOut, Spanish}, {"darme de baja", OptOut, Spanish},
		{"ya no me manden mensajes", OptOut, Spanish}, {"no quiero recibir mensajes", OptOut, Spanish},
		{"who is this? stop", OptOut, English}, {"STOP ALL", OptOut, English}, {"opt-out", OptOut, English},
		{"  Stop. ", OptOut, English}, {"don’t text me again", OptOut, English}, {"lose my number", OptOut, English},
		// Members who are talking.
		{"don't stop fighting", None, English}, {"we will not stop until we win", None, English},
		{"where is the bus stop?", None, English}, {"can we end mandatory overtime?", None, English},
		{"is the meeting cancelled?", None, English}, {"stop by the union hall at 5?", None, English},
		{"Our caseloads are unsustainable, please stop the cuts", None, English},
		{"yes I'll be there", None, English}, {"the end of my shift is at 7", None, English}, {"SIGN", None, English},
		{"", None, English}, {"SUBSCRIBE", None, English}, {"step", None, English},
		// Other keywords.
		{"START", OptIn, English}, {"unstop", OptIn, English}, {"INICIAR", OptIn, Spanish},
		{"YES", Yes, English}, {"yes!", Yes, English}, {"HELP", Help, English}, {"info", Help, English},
		{"AYUDA", Help, Spanish}, {"help please", Help, English}, {"JOIN", Join, English}, {"Unete", Join, Spanish},
		{"NIGHTS", Nights, English}, {"noches", Nights, Spanish}, {"DAYS", Days, English}, {"RESUME", Resume, English},
		{"LESS", Less, English}, {"MORE", More, English}, {"más", More, Spanish}, {"PREFS", Prefs, English},
		{"more info about the strike", None, English}, {"pause the strike?", None, English},
	}
	for _, c := range cases {
		got := Read(c.text)
		if got.Meaning != c.want {
			t.Errorf("Read(%q) = %q (%s), want %q", c.text, got.Meaning, got.Reason, c.want)
			continue
		}
		if c.want != None && got.Lang != c.lang {
			t.Errorf("Read(%q).Lang = %q, want %q", c.text, got.Lang, c.lang)
		}
		if c.want != None && got.Reason == "" {
			t.Errorf("Read(%q) gives no reason", c.text)
		}
	}
}

func TestReviewForTheUncertainMiddle(t *testing.T) {
	for _, text := range []string{
		"Don't text me during group, I'll call you at 3",
		"Remove me from the Saturday schedule",
		"how did you get my number",
		"I told you already to stop",
	} {
		if got := Read(text); got.Meaning != Review {
			t.Errorf("Read(%q) = %q (%s), want a review", text, got.Meaning, got.Reason)
		}
	}
}

func TestPauseArguments(t *testing.T) {
	cases := []struct {
		text    string
		days    int
		problem bool
	}{
		{"PAUSE", 30, false}, {"pause 7", 7, false}, {"PAUSE 60", 60, false}, {"PAUSA 7 días", 7, false},
		{"PAUSE 90", 90, false}, {"PAUSE 91", 0, true}, {"PAUSE 9999", 0, true}, {"PAUSE -1", 0, true},
		{"PAUSE abc", 0, true}, {"PAUSE 0", 0, true}, {"PAUSE +5", 0, true}, {"PAUSE 7.5", 0, true},
	}
	for _, c := range cases {
		got := Read(c.text)
		if got.Meaning != Pause || got.Days != c.days || (got.Problem != "") != c.problem {
			t.Errorf("Read(%q) = %+v, want PAUSE of %d days (problem %v)", c.text, got, c.days, c.problem)
		}
	}
}

func TestReaderUsesTheOrganizationsJoinWords(t *testing.T) {
	r := NewReader([]string{"UNION", "SINDICATO"})
	if got := r.Read("sindicato"); got.Meaning != Join {
		t.Errorf("SINDICATO = %q, want join", got.Meaning)
	}
	if got := r.Read("JOIN"); got.Meaning != None {
		t.Errorf("JOIN with other join words = %q, want an ordinary reply", got.Meaning)
	}
}

func TestReservedCoversEveryKeyword(t *testing.T) {
	for _, w := range []string{"STOP", "ALTO", "baja", "HELP", "AYUDA", "START", "YES", "JOIN", "UNETE", "PAUSE", "NIGHTS", "MAS", "STOPP", "REMOVE"} {
		if !Reserved(w, nil) {
			t.Errorf("Reserved(%q) = false", w)
		}
	}
	for _, w := range []string{"SIGN", "CALLED", "RSVP", "VOTE"} {
		if Reserved(w, nil) {
			t.Errorf("Reserved(%q) = true", w)
		}
	}
	if Reserved("JOIN", []string{"SINDICATO"}) || !Reserved("SINDICATO", []string{"SINDICATO"}) {
		t.Error("Reserved does not follow the organization's join words")
	}
}

// FuzzRead: no panic, the same answer twice, and an opt-out stays one
// with extra spaces, another case, or more punctuation around it.
func FuzzRead(f *testing.F) {
	for _, s := range []string{"STOP", "stop texting me", "yes!", "HELP", "\u00a0stop\u00a0", "🙂", "ALTO por favor",
		"PAUSE 9999", "remove me from the overtime list", "no más", "s t o p", "stoooop"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		got := Read(text)
		if again := Read(text); again != got {
			t.Fatalf("Read(%q) gave %+v then %+v", text, got, again)
		}
		if got.Meaning != None && got.Reason == "" {
			t.Fatalf("Read(%q) = %q without a reason", text, got.Meaning)
		}
		if got.Meaning != OptOut {
			return
		}
		for _, v := range []string{"  " + text + "  ", strings.ToUpper(text), strings.ToLower(text), text + "!!", "¡" + text + "!"} {
			if !utf8Safe(v) {
				continue
			}
			if m := Read(v).Meaning; m != OptOut {
				t.Fatalf("Read(%q) = opt-out but Read(%q) = %q", text, v, m)
			}
		}
	})
}

// utf8Safe skips case changes that turn one letter into another word's
// letters (the Turkish dotless i and the like).
func utf8Safe(s string) bool {
	for _, r := range s {
		if r > unicode.MaxASCII && unicode.IsLetter(r) && unicode.ToUpper(unicode.ToLower(r)) != unicode.ToUpper(r) {
			return false
		}
	}
	return true
}
