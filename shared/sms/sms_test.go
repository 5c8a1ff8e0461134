package sms

import (
	"strings"
	"testing"
)

func TestMeasure(t *testing.T) {
	cases := []struct {
		name string
		body string
		want Length
	}{
		{"empty", "", Length{GSM7, 0, 1}},
		{"160 plain", strings.Repeat("a", 160), Length{GSM7, 160, 1}},
		{"161 plain", strings.Repeat("a", 161), Length{GSM7, 161, 2}},
		{"306 plain", strings.Repeat("a", 306), Length{GSM7, 306, 2}},
		{"307 plain", strings.Repeat("a", 307), Length{GSM7, 307, 3}},
		{"extended counts two", strings.Repeat("{", 80), Length{GSM7, 160, 1}},
		{"extended over", strings.Repeat("{", 81), Length{GSM7, 162, 2}},
		{"escape not split", strings.Repeat("a", 152) + "€" + strings.Repeat("a", 10), Length{GSM7, 164, 2}},
		{"accented in gsm", "é à ü Ñ", Length{GSM7, 7, 1}},
		{"curly quote forces ucs2", "It’s on", Length{UCS2, 7, 1}},
		{"70 ucs2", strings.Repeat("ł", 70), Length{UCS2, 70, 1}},
		{"71 ucs2", strings.Repeat("ł", 71), Length{UCS2, 71, 2}},
		{"emoji is two units", strings.Repeat("🙂", 35), Length{UCS2, 70, 1}},
		{"emoji not split", strings.Repeat("a", 66) + "🙂" + strings.Repeat("a", 66), Length{UCS2, 134, 3}},
		{"134 ucs2", strings.Repeat("ł", 134), Length{UCS2, 134, 2}},
		{"135 ucs2", strings.Repeat("ł", 135), Length{UCS2, 135, 3}},
	}
	for _, c := range cases {
		if got := Measure(c.body); got != c.want {
			t.Errorf("%s: Measure = %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestPlainMakesGSM(t *testing.T) {
	in := "It’s “on” — Friday… see\u00a0you"
	out := Plain(in)
	if out != `It's "on" - Friday... see you` {
		t.Fatalf("Plain = %q", out)
	}
	if Measure(in).Encoding != UCS2 || Measure(out).Encoding != GSM7 {
		t.Fatal("Plain did not turn a UCS-2 text into GSM-7")
	}
}

func FuzzMeasure(f *testing.F) {
	for _, s := range []string{"hi", "€{}", "🙂🙂", "It’s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l := Measure(s)
		if l.Segments < 1 || l.Units < 0 {
			t.Fatalf("Measure(%q) = %+v", s, l)
		}
		single := 160
		if l.Encoding == UCS2 {
			single = 70
		}
		if l.Units <= single && l.Segments != 1 {
			t.Fatalf("Measure(%q) = %+v: fits one segment", s, l)
		}
	})
}
