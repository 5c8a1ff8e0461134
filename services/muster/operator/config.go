package operator

import (
	"fmt"
	"os"
	"strings"

	"github.com/musterhq/muster/shared/service"
)

// Config is what the CLI reads from MUSTER_OPERATOR_*: where the services
// and NATS are, and the operator's credentials for them.
type Config struct {
	NATSURL string `env:"NATS_URL" envDefault:"nats://127.0.0.1:4222"`
	// NATSSeed is the NATS admin user's nkey seed (ADMIN_NATS_SEED of the
	// deployment), or NATSSeedFile a file holding it (make run's
	// .run/nats-admin.nk). A secret.
	NATSSeed     string `env:"NATS_SEED"`
	NATSSeedFile string `env:"NATS_SEED_FILE"`
	NATSCAFile   string `env:"NATS_CA_FILE"`
	// ServiceKey is the operator's service key (the seed whose public key
	// the services trust as operator=<key>), or ServiceKeyFile a file
	// holding it (make run's .run/operator.key). A secret.
	ServiceKey     string `env:"SERVICE_KEY"`
	ServiceKeyFile string `env:"SERVICE_KEY_FILE"`
	// MetricsToken reads /metrics where no service key is set. A secret.
	MetricsToken string `env:"METRICS_TOKEN"`
	ContactsURL  string `env:"CONTACTS_URL" envDefault:"http://127.0.0.1:8081"`
	CampaignsURL string `env:"CAMPAIGNS_URL" envDefault:"http://127.0.0.1:8082"`
	DeliveryURL  string `env:"DELIVERY_URL" envDefault:"http://127.0.0.1:8083"`
	ConsoleURL   string `env:"CONSOLE_URL" envDefault:"http://127.0.0.1:8080"`
}

// LoadConfig reads MUSTER_OPERATOR_* and the files it names.
func LoadConfig() (Config, error) {
	var cfg Config
	if err := service.Load("MUSTER_OPERATOR_", &cfg); err != nil {
		return Config{}, err
	}
	var err error
	if cfg.NATSSeed, err = orFile(cfg.NATSSeed, cfg.NATSSeedFile, "MUSTER_OPERATOR_NATS_SEED_FILE"); err != nil {
		return Config{}, err
	}
	if cfg.ServiceKey, err = orFile(cfg.ServiceKey, cfg.ServiceKeyFile, "MUSTER_OPERATOR_SERVICE_KEY_FILE"); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func orFile(value, file, variable string) (string, error) {
	if value != "" || file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", variable, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// services are the services an operator asks, by name, with their URL.
func (c Config) services() []struct{ name, url string } {
	return []struct{ name, url string }{
		{"contacts", c.ContactsURL}, {"campaigns", c.CampaignsURL},
		{"delivery", c.DeliveryURL}, {"console", c.ConsoleURL},
	}
}
