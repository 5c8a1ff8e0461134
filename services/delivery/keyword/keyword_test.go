package keyword

import "testing"

func TestClassify(t *testing.T) {
	cases := []struct {
		body string
		want Family
	}{
		{"STOP", OptOut}, {"stop", OptOut}, {"  Stop. ", OptOut}, {"STOP ALL", OptOut},
		{"stop  all", OptOut}, {"opt-out", OptOut}, {"Unsubscribe", OptOut}, {"end", OptOut},
		{"Please stop texting me", OptOut}, {"take me off this list", OptOut},
		{"Remove me", OptOut}, {"don’t text me again", OptOut}, {"lose my number", OptOut},
		{"START", OptIn}, {"unstop", OptIn},
		{"YES", Yes}, {"yes!", Yes},
		{"HELP", Help}, {"info", Help},
		{"yes I'll be there", None}, {"can't stop thinking about the rally", None},
		{"the end of my shift is at 7", None}, {"SIGN", None}, {"", None},
		{"Stop by the union hall", None},
	}
	for _, c := range cases {
		if got := Classify(c.body); got.Family != c.want {
			t.Errorf("Classify(%q) = %q (%s), want %q", c.body, got.Family, got.Reason, c.want)
		}
	}
	if m := Classify("take me off your list"); m.Reason == "" {
		t.Error("a plain-language match carries no reason")
	}
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"STOP", "stop texting me", "yes!", "HELP", "\u00a0stop\u00a0", "🙂"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		m := Classify(body)
		if m.Family != None && m.Reason == "" {
			t.Fatalf("match without a reason for %q", body)
		}
		if m.Family == OptOut && Classify(body).Family != OptOut {
			t.Fatalf("classification not stable for %q", body)
		}
	})
}
