package service

import (
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/svcauth"
)

// wallClock dates and judges service tokens: the machine's clock, not the
// clock a service is given for its own rules. A token passes between two
// processes, which agree only on real time, and a test that moves a
// service's clock to midday must not expire its callers' tokens.
func wallClock() time.Time { return time.Now() }

// APIGuard is the guard of a service whose HTTP API other services call
// (contacts, campaigns, delivery), read from <NAME>_TRUSTED_CALLERS and
// <NAME>_METRICS_TOKEN. Trusted callers are required outside development
// mode; in it a service may start without, and then refuses every call.
// Call it before connecting anything, so a service missing its
// credentials refuses to start at once, naming the variable.
func (c Config) APIGuard(name string, log *zap.Logger) (*svcauth.Guard, error) {
	return c.guard(name, true, log)
}

// MetricsGuard is the guard of /metrics on a service no other service
// calls (the console, whose own API is the public edge and checks
// sessions): a service token from <NAME>_TRUSTED_CALLERS, optional here,
// or <NAME>_METRICS_TOKEN. With neither, /metrics refuses everyone.
func (c Config) MetricsGuard(name string, log *zap.Logger) (*svcauth.Guard, error) {
	return c.guard(name, false, log)
}

func (c Config) guard(name string, required bool, log *zap.Logger) (*svcauth.Guard, error) {
	prefix := envPrefix(name)
	trusted, err := svcauth.ParseTrusted(c.TrustedCallers)
	if err != nil {
		return nil, fmt.Errorf("%sTRUSTED_CALLERS: %w", prefix, err)
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 32 {
		return nil, fmt.Errorf("%sMETRICS_TOKEN must be at least 32 characters", prefix)
	}
	if len(trusted) == 0 && required {
		if !c.DevMode {
			return nil, fmt.Errorf("%sTRUSTED_CALLERS is required: name=base64-public-key for each service that calls %s, "+
				"such as console=<the key `console keygen` printed>", prefix, name)
		}
		log.Warn("no trusted callers: development mode, the API refuses every call", zap.String("variable", prefix+"TRUSTED_CALLERS"))
	}
	v, err := svcauth.NewVerifier(name, trusted, wallClock)
	if err != nil {
		return nil, err
	}
	log.Info("service API callers", zap.Strings("trusted_callers", trusted.Names()), zap.Bool("metrics_token", c.MetricsToken != ""))
	return svcauth.NewGuard(v, log.Named("svcauth")).WithMetricsToken(c.MetricsToken), nil
}

// Signer signs this service's calls to other services' APIs with
// <NAME>_SERVICE_KEY, required outside development mode. In development
// mode a missing key is made at start and its public key logged, so the
// services it calls can be told to trust it.
func (c Config) Signer(name string, log *zap.Logger) (*svcauth.Signer, error) {
	prefix := envPrefix(name)
	seed := c.ServiceKey
	if seed == "" {
		if !c.DevMode {
			return nil, fmt.Errorf("%sSERVICE_KEY is required: `%s keygen` makes one", prefix, name)
		}
		var public string
		var err error
		if seed, public, err = svcauth.NewKey(); err != nil {
			return nil, err
		}
		log.Warn("no service key: development mode, made one for this process; services must trust it to answer",
			zap.String("variable", prefix+"SERVICE_KEY"), zap.String("trust_as", name+"="+public))
	}
	key, err := svcauth.ParsePrivateKey(seed)
	if err != nil {
		return nil, fmt.Errorf("%sSERVICE_KEY: %w", prefix, err)
	}
	return svcauth.NewSigner(name, key, wallClock)
}

// envPrefix is a service's environment prefix: CONTACTS_ for contacts.
func envPrefix(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_"
}
