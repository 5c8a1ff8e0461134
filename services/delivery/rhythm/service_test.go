package rhythm_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/delivery/quiet"
	"github.com/musterhq/muster/services/delivery/rhythm"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/testkit"
)

type fixture struct {
	st    *store.Store
	svc   *rhythm.Service
	clock *testkit.Clock
	ny    *time.Location
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	pool, err := postgres.Open(context.Background(), testkit.Database(t, migrations.FS), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	clock := testkit.NewClock(t)
	st := store.New(pool, clock.Now)
	states := &rhythm.StateRules{}
	if err := states.Refresh(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	org := func() rhythm.Organization {
		return rhythm.Organization{Name: "Local 1199", Window: quiet.Default, Zone: ny}
	}
	link := func(addr string) string { return "https://muster.example/prefs/sealed" }
	return &fixture{st: st, svc: rhythm.New(st, states, org, link, zap.NewNop()), clock: clock, ny: ny}
}

func (f *fixture) apply(t testing.TB, from, text, sid string) string {
	t.Helper()
	reply, err := f.svc.Apply(context.Background(), from, consent.Read(text), sid, f.clock.Now())
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return reply
}

func (f *fixture) rhythm(t testing.TB, addr string) store.Rhythm {
	t.Helper()
	r, _, err := f.st.Rhythm(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestKeywords(t *testing.T) {
	f := newFixture(t)
	const ny, tx, fl = "+12125550101", "+12145550101", "+13055550101"

	if got := f.apply(t, ny, "NIGHTS", "SM1"); !strings.Contains(got, "16:00-21:00") || !strings.HasPrefix(got, "Local 1199: ") {
		t.Errorf("NIGHTS reply = %q", got)
	}
	if r := f.rhythm(t, ny); r.WindowText() != "16:00-21:00" || r.Language != "en" {
		t.Errorf("after NIGHTS: %+v", r)
	}
	// Texas allows 16:00-21:00 every day; Florida stops at 20:00.
	f.apply(t, tx, "nights", "SM2")
	if r := f.rhythm(t, tx); r.WindowText() != "16:00-21:00" {
		t.Errorf("Texas NIGHTS: %s", r.WindowText())
	}
	if got := f.apply(t, fl, "Nights", "SM3"); !strings.Contains(got, "16:00-20:00") {
		t.Errorf("Florida NIGHTS reply = %q", got)
	}
	if got := f.apply(t, ny, "DAYS", "SM4"); !strings.Contains(got, "08:00-21:00") {
		t.Errorf("DAYS reply = %q", got)
	}
	if r := f.rhythm(t, ny); r.Window != nil {
		t.Errorf("after DAYS: %s", r.WindowText())
	}

	// PAUSE 7 pauses for seven days and says until when, in the member's zone.
	now := f.clock.Now()
	got := f.apply(t, ny, "PAUSE 7", "SM5")
	until := now.In(f.ny).AddDate(0, 0, 7)
	if !strings.Contains(got, until.Format("Monday, January 2")) {
		t.Errorf("PAUSE reply = %q, want the date %s", got, until.Format("Monday, January 2"))
	}
	r := f.rhythm(t, ny)
	if r.PausedUntil == nil || r.PausedUntil.Sub(until).Abs() > time.Minute || !r.Paused(f.clock.Now()) {
		t.Fatalf("after PAUSE 7: paused until %v, want %s", r.PausedUntil, until)
	}
	f.apply(t, ny, "RESUME", "SM6")
	if r := f.rhythm(t, ny); r.Paused(f.clock.Now()) {
		t.Fatalf("still paused after RESUME: %v", r.PausedUntil)
	}
	f.apply(t, ny, "PAUSE", "SM7")
	if r := f.rhythm(t, ny); r.PausedUntil.Sub(now.In(f.ny).AddDate(0, 0, consent.DefaultPauseDays)).Abs() > time.Minute {
		t.Fatalf("PAUSE alone: until %v", r.PausedUntil)
	}

	f.apply(t, ny, "LESS", "SM8")
	if r := f.rhythm(t, ny); !r.Less {
		t.Fatal("LESS not kept")
	}
	f.apply(t, ny, "MORE", "SM9")
	if r := f.rhythm(t, ny); r.Less {
		t.Fatal("MORE did not end LESS")
	}
	if got := f.apply(t, ny, "PREFS", "SM10"); !strings.Contains(got, "https://muster.example/prefs/sealed") {
		t.Errorf("PREFS reply = %q", got)
	}

	// The same message again (Twilio retrying) changes nothing and gets
	// the same answer.
	before := f.rhythm(t, ny)
	if got := f.apply(t, ny, "PAUSE 7", "SM5"); !strings.Contains(got, until.Format("Monday, January 2")) {
		t.Errorf("replayed PAUSE reply = %q", got)
	}
	if after := f.rhythm(t, ny); !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("a replayed SID changed the rhythm: %+v -> %+v", before, after)
	}
	hist, _ := f.st.RhythmHistory(context.Background(), ny)
	if len(hist) != 7 { // NIGHTS DAYS PAUSE RESUME PAUSE LESS MORE; PREFS changes nothing
		t.Errorf("%d history rows, want 7: %+v", len(hist), hist)
	}
}

func TestSpanish(t *testing.T) {
	f := newFixture(t)
	const member = "+12125550102"
	if got := f.apply(t, member, "NOCHES", "SM1"); !strings.Contains(got, "Listo, mensajes solo de 16:00-21:00") {
		t.Errorf("NOCHES reply = %q", got)
	}
	// The member's language is now Spanish: an English keyword is answered in it.
	if got := f.apply(t, member, "PAUSE 3", "SM2"); !strings.Contains(got, "en pausa hasta el") {
		t.Errorf("PAUSE reply for a Spanish speaker = %q", got)
	}
	if got := f.apply(t, member, "reanudar", "SM3"); !strings.Contains(got, "reanudados") {
		t.Errorf("REANUDAR reply = %q", got)
	}
	for text, want := range map[string]string{"MENOS": "máximo un mensaje", "MAS": "todas las alertas otra vez", "DIAS": "horario normal", "PREFERENCIAS": "Elija"} {
		if got := f.apply(t, member, text, "SM-"+text); !strings.Contains(got, want) {
			t.Errorf("%s reply = %q", text, got)
		}
	}
}

// A bad argument is answered with the problem and changes nothing.
func TestPauseProblemChangesNothing(t *testing.T) {
	f := newFixture(t)
	const member = "+12125550103"
	for i, text := range []string{"PAUSE 9999", "PAUSE -1", "PAUSE abc", "PAUSA 0", "pause 91"} {
		got := f.apply(t, member, text, "SMbad"+string(rune('a'+i)))
		if !strings.Contains(got, "1 to 90") && !strings.Contains(got, "1 a 90") {
			t.Errorf("%q reply = %q", text, got)
		}
	}
	if _, found, _ := f.st.Rhythm(context.Background(), member); found {
		t.Fatal("a bad PAUSE saved a rhythm")
	}
}

// FuzzPauseArgument: whatever follows PAUSE, Apply never panics, and when
// the reading has a problem nothing changes.
func FuzzPauseArgument(f *testing.F) {
	for _, s := range []string{"7", "9999", "-1", "abc", "0", "90", "91", "+5", "7 days", "１２", "3.5", "0x10", "", "\x00", "99999999999999999999"} {
		f.Add(s)
	}
	fx := newFixture(f)
	n := 0
	f.Fuzz(func(t *testing.T, arg string) {
		n++
		member := "+1212555" + string(rune('0'+n%10)) + "1" + string(rune('0'+n/10%10)) + "0"
		before := fx.rhythm(t, member)
		rd := consent.Read("PAUSE " + arg)
		reply, err := fx.svc.Apply(context.Background(), member, rd, "SMfuzz"+arg, fx.clock.Now())
		if err != nil && apperr.KindOf(err) != apperr.KindInvalid {
			if errors.Is(err, context.Canceled) {
				return
			}
			t.Fatalf("PAUSE %q: %v", arg, err)
		}
		if rd.Meaning == consent.Pause && rd.Problem != "" {
			if after := fx.rhythm(t, member); !after.UpdatedAt.Equal(before.UpdatedAt) {
				t.Fatalf("PAUSE %q (problem %q) changed the rhythm", arg, rd.Problem)
			}
			if reply == "" {
				t.Fatalf("PAUSE %q: no reply for a problem", arg)
			}
		}
	})
}
