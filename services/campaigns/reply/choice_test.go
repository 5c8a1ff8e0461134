package reply

import (
	"testing"
	"unicode/utf8"
)

var caseload = Choices{{"Manageable", "Manejable"}, {"Heavy", "Pesado"}, {"Unsafe", "Peligroso"}}

func TestMatchChoice(t *testing.T) {
	cases := []struct {
		body  string
		want  int
		extra bool
	}{
		{"2", 1, false},
		{"2.", 1, false},
		{"#2", 1, false},
		{"(3)", 2, false},
		{"2️⃣", 1, false},
		{"option 1", 0, false},
		{"heavy", 1, false},
		{"Heavy!", 1, false},
		{"HEAVY", 1, false},
		{"Unsafe!", 2, false},
		{"unsafe 😟", 2, false},
		{"it's heavy this week", 1, false},
		{"2 heavy", 1, false},
		{"manageable?", 0, true},
		// Spanish: the organizer's labels, their endings, the common
		// translations.
		{"pesado", 1, false},
		{"Pesada", 1, false},
		{"muy pesado", 1, false},
		{"PELIGROSO!!", 2, false},
		{"inseguro", 2, false},
		{"manejable", 0, false},
		// No answer: nothing, two answers, numbers out of range, negation,
		// a long message.
		{"what?", -1, false},
		{"", -1, false},
		{"🙂", -1, false},
		{"heavy and unsafe", -1, false},
		{"2 or 3", -1, false},
		{"1 unsafe", -1, false},
		{"4", -1, false},
		{"0", -1, false},
		{"I worked 12 hours", -1, false},
		{"not unsafe", -1, false},
		{"it is not heavy at all but the staffing on the night shift has been a problem for weeks", -1, false},
	}
	for _, c := range cases {
		got, m := MatchChoice(c.body, caseload)
		if got != c.want || (got >= 0 && m.Extra != c.extra) {
			t.Errorf("MatchChoice(%q) = %d extra %v, want %d extra %v", c.body, got, m.Extra, c.want, c.extra)
		}
		if (got >= 0) != (m.Answer == Yes) {
			t.Errorf("MatchChoice(%q): index %d with answer %q", c.body, got, m.Answer)
		}
	}
}

// TestMatchChoiceKeywordsWin: the words members use with delivery are
// never poll answers, even where a number or a label is in the text.
func TestMatchChoiceKeywordsWin(t *testing.T) {
	for _, body := range []string{"stop", "STOP", "Stop 2", "2 stop", "unsubscribe", "help", "HELP!", "start", "alto", "ayuda", "pause", "cancel", "quit",
		"stop texting me heavy"} {
		if got, _ := MatchChoice(body, caseload); got != -1 {
			t.Errorf("MatchChoice(%q) = %d: a keyword must win over a poll answer", body, got)
		}
	}
}

func TestMatchChoiceScale(t *testing.T) {
	scale := make(Choices, 5)
	for _, c := range []struct {
		body string
		want int
	}{{"1", 0}, {"5", 4}, {"5!", 4}, {"#3", 2}, {"6", -1}, {"3 or 4", -1}, {"tired", -1}} {
		if got, _ := MatchChoice(c.body, scale); got != c.want {
			t.Errorf("scale MatchChoice(%q) = %d, want %d", c.body, got, c.want)
		}
	}
}

func FuzzMatchChoice(f *testing.F) {
	for _, s := range []string{"2", "2.", "#2", "heavy!", "Unsafe!", "pesado", "what?", "stop", "not unsafe", "2️⃣", "muy pesada", "1 2 3",
		"manejable", "HEAVY heavy", "", "🛑", "3333", "option 10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		i, m := MatchChoice(body, caseload)
		if i < -1 || i >= len(caseload) {
			t.Fatalf("MatchChoice(%q) = %d: out of range", body, i)
		}
		if (i >= 0) != (m.Answer == Yes) {
			t.Fatalf("MatchChoice(%q) = %d with answer %q", body, i, m.Answer)
		}
		if i >= 0 && !utf8.ValidString(body) && len(Words(body)) == 0 {
			t.Fatalf("MatchChoice(%q) = %d from no words", body, i)
		}
		// An answer is stable: the same text with more punctuation
		// around it answers the same.
		if i >= 0 {
			if j, _ := MatchChoice("  "+body+"!", caseload); j != i {
				t.Fatalf("MatchChoice(%q) = %d but with \"!\" %d", body, i, j)
			}
		}
		// A keyword is never an answer.
		if j, _ := MatchChoice("STOP", caseload); j != -1 {
			t.Fatal("STOP read as an answer")
		}
	})
}
