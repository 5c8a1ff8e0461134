package sendgrid

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"testing"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/simulator/sim"
)

// The real sendgrid-go client against the simulator: each answer the
// simulator can give a mail/send lands in the kind the mailer acts on. A
// refused key is its own kind, never a retry.
func TestSendClassifiesProviderAnswers(t *testing.T) {
	s := sim.New(sim.Config{SendGridKey: "SG.right"}, zap.NewNop())
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() { srv.Close(); s.Close() })
	batch := Batch{Subject: "Vote", Text: "Thursday", Recipients: []Recipient{{Email: "ana@example.org"}}}
	cases := []struct {
		name  string
		key   string
		fault sim.FaultKind
		want  provider.Kind
		code  string
	}{
		{"wrong key", "SG.wrong", "", provider.Unauthorized, "401"},
		{"key refused", "SG.right", sim.FaultUnauthorized, provider.Unauthorized, "401"},
		{"key lacks the scope", "SG.right", sim.FaultForbidden, provider.Unauthorized, "403"},
		{"too many requests", "SG.right", sim.FaultRateLimited, provider.Retryable, "429"},
		{"server error", "SG.right", sim.FaultServerError, provider.Ambiguous, "500"},
		{"invalid address", "SG.right", sim.FaultInvalidEmail, provider.Permanent, "400"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.SetEmailFaults(nil)
			if c.fault != "" {
				s.SetEmailFaults([]sim.Fault{{Kind: c.fault}})
			}
			cl := NewClient(Config{APIKey: c.key, APIURL: srv.URL, From: "alerts@example.org"})
			_, err := cl.Send(context.Background(), batch)
			if kind, code := provider.Classify(err); kind != c.want || code != c.code {
				t.Fatalf("got %s (code %q), want %s (code %q); err = %v", kind, code, c.want, c.code, err)
			}
		})
	}
}

func TestBadRequestNamingPersonalizationsRefusesThoseOnly(t *testing.T) {
	cases := []struct {
		answer string
		want   []int
	}{
		{`{"errors":[{"message":"Does not contain a valid address.","field":"personalizations.2.to.0.email"}]}`, []int{2}},
		{`{"errors":[{"field":"personalizations.7.to.0.email"},{"field":"personalizations.1.substitutions"},{"field":"personalizations.7.to.0.email"}]}`, []int{1, 7}},
		// The request as a whole is at fault: no recipient is named alone.
		{`{"errors":[{"field":"personalizations.0.to.0.email"},{"field":"subject"}]}`, nil},
		{`{"errors":[{"field":"content.0.value"}]}`, nil},
		{`not json`, nil},
	}
	for _, c := range cases {
		err := classifyStatus(400, c.answer)
		var refused *provider.RefusedRecipients
		if errors.As(err, &refused) != (c.want != nil) || (c.want != nil && !slices.Equal(refused.Index, c.want)) {
			t.Errorf("%s: %v, want %v", c.answer, err, c.want)
		}
		if kind, code := provider.Classify(err); kind != provider.Permanent || code != "400" {
			t.Errorf("%s: classified %v %s", c.answer, kind, code)
		}
	}
}
