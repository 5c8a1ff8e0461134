package server

import (
	"context"
	"fmt"
	"net/http"
)

// shareOrgName tells campaigns the union's name the admin saved in
// delivery's settings, so {{org_name}}, calendar invitations and the
// first-text check name the union as the STOP and HELP replies do. The
// settings are saved by then; saving again retries this.
func (s *Server) shareOrgName(ctx context.Context, name, by string) error {
	if name == "" {
		return nil
	}
	body := map[string]string{"org_name": name, "updated_by": by}
	if err := s.Services.Campaigns.JSON(ctx, http.MethodPut, "/settings/org-name", body, nil); err != nil {
		return fmt.Errorf("telling campaigns the union's name (the settings are saved; save again to retry): %w", err)
	}
	return nil
}
