// Package orgname is the union's name as campaigns uses it in what
// members read ({{org_name}}, calendar invitations) and in the check that
// a first text names the union: the name the admin set in the console,
// else the CAMPAIGNS_ORG_NAME the service started with. Every replica
// reads the stored name at start and every few seconds, and the one that
// is told a new name uses it at once.
package orgname

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/shared/apperr"
)

// MaxLen bounds a name: it goes into texts of 160 characters.
const MaxLen = 60

// Source holds the current name.
type Source struct {
	store    *store.Store
	fallback string
	name     atomic.Pointer[string]
	log      *zap.Logger
}

// New starts from fallback until Refresh reads a stored name.
func New(st *store.Store, fallback string, log *zap.Logger) *Source {
	s := &Source{store: st, fallback: fallback, log: log}
	s.name.Store(&fallback)
	return s
}

// Name is the name to use now.
func (s *Source) Name() string { return *s.name.Load() }

// Refresh reads the stored name, if any.
func (s *Source) Refresh(ctx context.Context) error {
	name, ok, err := s.store.OrgName(ctx)
	if err != nil {
		return err
	}
	if ok {
		s.name.Store(&name)
	}
	return nil
}

// Run refreshes every interval until ctx ends; a failed read keeps the
// name it had and is logged.
func (s *Source) Run(ctx context.Context, every time.Duration) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("reading the organization's name; keeping the one in use", zap.Error(err))
		}
	}
}

// Set records a new name (trimmed, 1 to MaxLen characters) and uses it
// at once on this replica.
func (s *Source) Set(ctx context.Context, name, by string, at time.Time) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len([]rune(name)) > MaxLen {
		return "", apperr.Invalid("org_name", "the organization's name must be 1 to %d characters", MaxLen)
	}
	if err := s.store.SetOrgName(ctx, name, by, at); err != nil {
		return "", err
	}
	s.name.Store(&name)
	return name, nil
}
