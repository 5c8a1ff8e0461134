package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// zoneTTL is how long the console trusts the organization's time zone it
// last read from delivery. Every page shows times in it, so reading it per
// page would double the calls; an admin's change shows within this long on
// other replicas (at once on the one that saved it).
const zoneTTL = 30 * time.Second

// zoneCache holds the organization's time zone as delivery's settings
// last gave it.
type zoneCache struct {
	mu   sync.Mutex
	loc  *time.Location
	read time.Time
	// name is the organization's name, read with the zone.
	name string
}

// orgZone is the organization's time zone, in which pages show times.
// When delivery cannot say, the last zone read stands (UTC if none was,
// for a zoneTTL):
// a page with times in the wrong zone, labelled with its abbreviation, is
// better than no page.
func (s *Server) orgZone(ctx context.Context) *time.Location {
	z := s.zone
	z.mu.Lock()
	defer z.mu.Unlock()
	now := s.Now()
	if z.loc != nil && now.Sub(z.read) < zoneTTL {
		return z.loc
	}
	var doc struct {
		Settings struct {
			TimeZone string `json:"time_zone"`
			OrgName  string `json:"org_name"`
		} `json:"settings"`
	}
	err := s.Services.Delivery.JSON(ctx, http.MethodGet, "/settings", nil, &doc)
	if err == nil && doc.Settings.TimeZone == "" {
		err = errors.New("delivery's settings name no time zone")
	}
	if err == nil {
		var loc *time.Location
		if loc, err = time.LoadLocation(doc.Settings.TimeZone); err == nil {
			z.loc, z.read, z.name = loc, now, doc.Settings.OrgName
			return loc
		}
	}
	s.Log.Warn("reading the organization's time zone", zap.Error(err))
	if z.loc == nil {
		// Not known yet: UTC, until the next try a zoneTTL from now (a
		// delivery that is down is not asked on every page).
		z.loc, z.read = time.UTC, now
	}
	return z.loc
}

// forgetZone makes the next page read the zone again (an admin changed
// the settings).
func (s *Server) forgetZone() {
	s.zone.mu.Lock()
	s.zone.loc = nil
	s.zone.mu.Unlock()
}

// orgName is the organization's name as delivery's settings last gave it
// (read with the zone); empty when delivery could not say.
func (s *Server) orgName(ctx context.Context) string {
	s.orgZone(ctx)
	s.zone.mu.Lock()
	defer s.zone.mu.Unlock()
	return s.zone.name
}
