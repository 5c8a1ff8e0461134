package consent

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
)

// labeled is one line of testdata/replies.tsv: a member's reply and how a
// reasonable person reads it. The corpus was gathered from the sources
// its header cites, by someone who had not read this package.
type labeled struct {
	line   int
	optOut bool
	lang   string
	text   string
}

func loadCorpus(tb testing.TB) []labeled {
	tb.Helper()
	f, err := os.Open("testdata/replies.tsv")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []labeled
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 4 || (fields[0] != "opt_out" && fields[0] != "reply") {
			tb.Fatalf("replies.tsv:%d: want label<TAB>lang<TAB>text<TAB>source, got %q", n, line)
		}
		out = append(out, labeled{line: n, optOut: fields[0] == "opt_out", lang: fields[1], text: fields[2]})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// Score is how the reader does on the corpus: recall counts only opt-outs
// recognized at once (the review queue is not recall), false counts
// ordinary replies taken as opt-outs, and the review shares say how many
// of each go to an organizer.
type Score struct {
	OptOuts, Replies             int
	Recognized, Reviewed         int // of the opt-outs
	FalseOptOuts, RepliesInQueue int // of the replies
	Missed, Wrong                []labeled
}

func score(items []labeled) Score {
	var s Score
	r := NewReader(nil)
	for _, it := range items {
		m := r.Read(it.text).Meaning
		if it.optOut {
			s.OptOuts++
			switch m {
			case OptOut:
				s.Recognized++
			case Review:
				s.Reviewed++
				s.Missed = append(s.Missed, it)
			default:
				s.Missed = append(s.Missed, it)
			}
			continue
		}
		s.Replies++
		switch m {
		case OptOut:
			s.FalseOptOuts++
			s.Wrong = append(s.Wrong, it)
		case Review:
			s.RepliesInQueue++
		}
	}
	return s
}

func pct(n, of int) float64 { return 100 * float64(n) / float64(of) }

func TestCorpus(t *testing.T) {
	items := loadCorpus(t)
	s := score(items)
	if s.OptOuts < 200 || s.Replies < 200 {
		t.Fatalf("corpus has %d opt-outs and %d replies; want at least 200 of each", s.OptOuts, s.Replies)
	}
	recall, falsePct := pct(s.Recognized, s.OptOuts), pct(s.FalseOptOuts, s.Replies)
	t.Logf("recall %.1f%% (%d of %d; %d more in review), false %.1f%% (%d of %d; %d in review)",
		recall, s.Recognized, s.OptOuts, s.Reviewed, falsePct, s.FalseOptOuts, s.Replies, s.RepliesInQueue)
	for _, m := range s.Missed {
		t.Logf("missed  replies.tsv:%d %s %q -> %s", m.line, m.lang, m.text, Read(m.text).Meaning)
	}
	for _, w := range s.Wrong {
		t.Logf("wrong   replies.tsv:%d %s %q (%s)", w.line, w.lang, w.text, Read(w.text).Reason)
	}
	if recall < 99 {
		t.Errorf("recall %.1f%%, want at least 99%%", recall)
	}
	if falsePct > 1 {
		t.Errorf("false opt-outs %.1f%%, want at most 1%%", falsePct)
	}
}

// BenchmarkOptOutCorpus reads the corpus and prints recall and false
// opt-outs as BENCH lines (make bench BENCH=optout_recall_pct), with the
// share of each label that goes to the review queue.
func BenchmarkOptOutCorpus(b *testing.B) {
	items := loadCorpus(b)
	var s Score
	for b.Loop() {
		s = score(items)
	}
	fmt.Printf("BENCH optout_recall_pct %.1f %%\n", pct(s.Recognized, s.OptOuts))
	fmt.Printf("BENCH optout_false_pct %.1f %%\n", pct(s.FalseOptOuts, s.Replies))
	fmt.Printf("BENCH optout_review_pct %.1f %%\n", pct(s.Reviewed+s.RepliesInQueue, s.OptOuts+s.Replies))
}
