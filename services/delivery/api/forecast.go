package api

import (
	"context"
	"net/http"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/smssend"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// MaxForecast is the most members one forecast request judges; a caller
// pages a larger audience and adds the answers up.
const MaxForecast = 1000

// Forecaster judges an audience as the send path would, reserving nothing.
type Forecaster interface {
	Forecast(ctx context.Context, members []smssend.ForecastMember) (smssend.Forecast, error)
}

// ForecastHandler serves POST /forecast for the console's launch
// confirmation: how many texts would go now and how many later, and why.
type ForecastHandler struct {
	f   Forecaster
	log *zap.Logger
}

// NewForecast builds the handler.
func NewForecast(f Forecaster, log *zap.Logger) *ForecastHandler {
	return &ForecastHandler{f: f, log: log}
}

// Routes mounts the route on r.
func (h *ForecastHandler) Routes(r chi.Router) { r.Post("/forecast", h.forecast) }

type forecastRequest struct {
	Members []smssend.ForecastMember `json:"members"`
}

func (h *ForecastHandler) forecast(w http.ResponseWriter, r *http.Request) {
	var req forecastRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if len(req.Members) > MaxForecast {
		web.WriteError(w, r, h.log, apperr.Invalid("members", "at most %d members a request; page the audience", MaxForecast))
		return
	}
	f, err := h.f.Forecast(r.Context(), req.Members)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, f)
}
