package app_test

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/app"
)

// Outside development mode campaigns refuses to start without a real link
// secret, before it connects anything.
func TestLinkSecretIsRequiredOutsideDevelopmentMode(t *testing.T) {
	for _, tt := range []struct{ secret, previous, want string }{
		{"", "", "CAMPAIGNS_LINK_SECRET is required"},
		{"too short", "", "CAMPAIGNS_LINK_SECRET must be at least"},
		{"dev-only-link-secret-do-not-use-in-production", "", "known development value"},
		{"a real, long, randomly made link secret 9f3a", "short", "_PREVIOUS"},
	} {
		c := app.DefaultConfig()
		c.LinkSecret, c.LinkSecretPrevious = tt.secret, tt.previous
		if _, err := app.New(context.Background(), c, zap.NewNop(), app.Options{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LinkSecret %q: New = %v, want an error saying %q", tt.secret, err, tt.want)
		}
	}
}
