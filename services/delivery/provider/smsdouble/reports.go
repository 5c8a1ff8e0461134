package smsdouble

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// ReportsPath is where delivery takes the double's delivery reports.
const ReportsPath = "/webhooks/double/reports"

// Receiver acts on reports in delivery's vocabulary.
type Receiver interface {
	Status(ctx context.Context, r provider.StatusReport) error
}

// states maps the double's words onto ours.
var states = map[string]status.Status{
	StateEnqueued:   status.Accepted,
	StateHandedOver: status.Sent,
	StateReceived:   status.Delivered,
	StateLost:       status.Undelivered,
	StateRejected:   status.Failed,
}

// Reports verifies and maps the double's delivery reports.
type Reports struct {
	key  string
	recv Receiver
	log  *zap.Logger
}

// NewReports builds the handler.
func NewReports(key string, recv Receiver, log *zap.Logger) *Reports {
	return &Reports{key: key, recv: recv, log: log}
}

// ServeHTTP takes one report: 204 once it is applied, 4xx for what we
// will never act on, 5xx (generic) for a failure of ours so the double
// posts it again.
func (h *Reports) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rep, err := h.read(r)
	if err == nil {
		err = h.recv.Status(r.Context(), rep)
	}
	if err != nil {
		if st := web.StatusOf(err); st >= 500 {
			web.Fail(w, r, h.log, st, "double report failed", err)
		} else {
			web.WriteJSON(w, st, web.BodyOf(err))
		}
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Reports) read(r *http.Request) (provider.StatusReport, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return provider.StatusReport{}, apperr.Invalid("body", "reading body: %v", err)
	}
	if !hmac.Equal([]byte(r.Header.Get(SignatureHeader)), []byte(Sign(h.key, body))) {
		return provider.StatusReport{}, apperr.Forbidden("report signature does not match")
	}
	var rep report
	if err := json.Unmarshal(body, &rep); err != nil || rep.TextID == "" {
		return provider.StatusReport{}, apperr.Invalid("body", "not a delivery report")
	}
	st, ok := states[rep.State]
	if !ok {
		return provider.StatusReport{}, apperr.Invalid("state", "unknown state %q", rep.State)
	}
	out := provider.StatusReport{MessageID: rep.Ref, ProviderID: rep.TextID, Status: st, ProviderStatus: rep.State, ErrorCode: rep.Fault}
	if rep.Fault == FaultOptedOut {
		out.OptedOut, out.Evidence = true, Name+" "+FaultOptedOut+" on "+rep.TextID
	}
	return out, nil
}
