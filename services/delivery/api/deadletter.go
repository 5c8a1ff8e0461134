package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/web"
)

// DeadLetterHandler keeps what delivery's consumers gave up on in the
// dead_letters table, where the API lists it.
func DeadLetterHandler(st *store.Store) stream.Handler {
	return func(ctx context.Context, m stream.Msg) error {
		dl, err := events.Decode[events.DeadLettered](m.Data)
		if err != nil {
			return stream.Permanent(err)
		}
		if err := st.KeepDeadLetter(ctx, dl); err != nil {
			return stream.Retry(err, time.Second)
		}
		return nil
	}
}

func (h *Handler) deadLetters(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	list, err := h.store.DeadLetters(r.Context(), limit)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if list == nil {
		list = []store.DeadLetter{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"dead_letters": list})
}

// retryDeadLetter publishes a dead letter's original message again. A
// send request carries its idempotency key, so a retry can never send a
// message that already went out. Send requests go back on
// delivery.retry.<channel>, which delivery's consumers read alongside
// delivery.send.<channel>: only campaigns may publish delivery.send.*.
func (h *Handler) retryDeadLetter(w http.ResponseWriter, r *http.Request) {
	dl, err := h.store.DeadLetter(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	id := fmt.Sprintf("retry.%s.%d", dl.ID, time.Now().UnixNano())
	subject := RetrySubject(dl.Subject)
	if _, err := h.js.PublishMsg(r.Context(), stream.RetryMsg(subject, dl.Data), jetstream.WithMsgID(id)); err != nil {
		web.WriteError(w, r, h.log, apperr.Unavailable(err, "republishing dead letter"))
		return
	}
	if err := h.store.MarkRetried(r.Context(), dl.ID); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusAccepted, map[string]string{"id": dl.ID, "subject": subject})
}

// RetrySubject is where a dead letter first published to subject is
// published again: a send request's retry subject, or subject itself.
func RetrySubject(subject string) string {
	if ch, ok := strings.CutPrefix(subject, events.SubjectSendPrefix); ok {
		return events.RetrySubject(events.Channel(ch))
	}
	return subject
}
