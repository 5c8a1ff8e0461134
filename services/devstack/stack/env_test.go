package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	campaignsdb "github.com/musterhq/muster/services/campaigns/migrations"
	console "github.com/musterhq/muster/services/console/app"
	consoledb "github.com/musterhq/muster/services/console/migrations"
	contactsdb "github.com/musterhq/muster/services/contacts/migrations"
	delivery "github.com/musterhq/muster/services/delivery/app"
	deliverydb "github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
	"github.com/musterhq/muster/shared/testkit"
)

// TestEnvironmentReachesServices is make run honouring the variables a
// service run alone reads: DELIVERY_CAP_PER_DAY set before make run was
// once silently replaced by the code's default. A wiring variable (where
// delivery listens) stays the stack's, or the parts would not find each
// other.
func TestEnvironmentReachesServices(t *testing.T) {
	var dc delivery.Config
	var oc console.Config
	st, err := stack.Start(context.Background(), stack.Options{
		NATSPort: -1, NATSDir: t.TempDir(),
		ContactsDB: testkit.Database(t, contactsdb.FS), CampaignsDB: testkit.Database(t, campaignsdb.FS),
		DeliveryDB: testkit.Database(t, deliverydb.FS), ConsoleDB: testkit.Database(t, consoledb.FS),
		ContactsAddr: "127.0.0.1:0", CampaignsAddr: "127.0.0.1:0", SimulatorAddr: "127.0.0.1:0",
		// Delivery's port is fixed before it binds; one below the
		// ephemeral range cannot be taken by an outgoing connection.
		DeliveryAddr: fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)),
		ConsoleAddr:  "127.0.0.1:0", ConsoleAdminEmail: consoleAdmin, ConsoleAdminPassword: consolePassword,
		RedisPrefix: redisPrefix(t), Callers: svcauthtest.Trusted(),
		Log: zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel)),
		Environment: map[string]string{
			"DELIVERY_CAP_PER_DAY":  "7",
			"DELIVERY_CAP_PER_WEEK": "20",
			"DELIVERY_SENDER_RATE":  "5",
			"DELIVERY_HTTP_ADDR":    "127.0.0.1:1",
			"CONSOLE_SESSION_TTL":   "90m",
		},
		Delivery: func(c *delivery.Config) { dc = *c },
		Console:  func(c *console.Config) { oc = *c },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Stop(); err != nil {
			t.Errorf("stopping stack: %v", err)
		}
	})
	if dc.SenderRate != 5 || dc.CapPerDay != 7 || dc.CapPerWeek != 20 {
		t.Errorf("delivery was configured with sender rate %d, caps %d/%d; want 5, 7/20 from the environment",
			dc.SenderRate, dc.CapPerDay, dc.CapPerWeek)
	}
	if dc.HTTPAddr == "127.0.0.1:1" {
		t.Error("DELIVERY_HTTP_ADDR moved delivery away from the stack's address")
	}
	if oc.SessionTTL != 90*time.Minute {
		t.Errorf("console session TTL %s, want 90m from CONSOLE_SESSION_TTL", oc.SessionTTL)
	}

	// And the running service uses it: delivery's settings start from
	// its configuration.
	req, err := http.NewRequest(http.MethodGet, st.DeliveryURL+"/settings", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := svcauthtest.Client("delivery").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /settings: %s", resp.Status)
	}
	var got struct {
		Settings struct {
			CapPerDay  int `json:"cap_per_day"`
			CapPerWeek int `json:"cap_per_week"`
		} `json:"settings"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if c := got.Settings; c.CapPerDay != 7 || c.CapPerWeek != 20 {
		t.Errorf("delivery's settings show caps %d/%d, want 7/20", c.CapPerDay, c.CapPerWeek)
	}
}
