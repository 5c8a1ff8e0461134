package service

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

type overlayConfig struct {
	Config
	Rate   int           `env:"RATE" envDefault:"0"`
	Window time.Duration `env:"WINDOW" envDefault:"2m"`
	Poll   time.Duration `env:"POLL" envDefault:"1s"`
	Name   string        `env:"NAME"`
	Nested struct {
		Depth int `env:"DEPTH" envDefault:"3"`
	} `envPrefix:"INNER_"`
}

func TestSettingsListsEmbeddedAndNested(t *testing.T) {
	var cfg overlayConfig
	got, err := Settings("X_", &cfg)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, s := range got {
		keys = append(keys, s.Key)
	}
	for _, want := range []string{"X_HTTP_ADDR", "X_NATS_SEED", "X_RATE", "X_NAME", "X_INNER_DEPTH"} {
		if !slices.Contains(keys, want) {
			t.Errorf("settings %v lack %s", keys, want)
		}
	}
}

// TestOverlayKeepsWhatTheEnvironmentDoesNotSet is make run's case: the dev
// stack's own values (a poll of 200ms where the code says 1s) stay unless
// a variable is set, and a set variable wins over them and over the code.
func TestOverlayKeepsWhatTheEnvironmentDoesNotSet(t *testing.T) {
	var cfg overlayConfig
	if err := Defaults(&cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Poll = 200 * time.Millisecond // a dev default
	cfg.Name = "dev"
	cfg.Nested.Depth = 5
	set, err := Overlay("X_", &cfg, map[string]string{
		"X_RATE": "7", "X_NAME": "", "X_INNER_DEPTH": "9", "X_LOG_LEVEL": "debug", "Y_RATE": "1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"X_LOG_LEVEL", "X_RATE", "X_INNER_DEPTH"}; !reflect.DeepEqual(set, want) {
		t.Errorf("set %v, want %v", set, want)
	}
	if cfg.Rate != 7 || cfg.Nested.Depth != 9 || cfg.LogLevel != "debug" {
		t.Errorf("set values not taken: %+v", cfg)
	}
	if cfg.Poll != 200*time.Millisecond || cfg.Name != "dev" || cfg.Window != 2*time.Minute {
		t.Errorf("values the environment does not set changed: poll %s name %q window %s", cfg.Poll, cfg.Name, cfg.Window)
	}
}

func TestOverlayNamesABadValue(t *testing.T) {
	var cfg overlayConfig
	if _, err := Overlay("X_", &cfg, map[string]string{"X_WINDOW": "soon"}); err == nil {
		t.Fatal("a bad duration was accepted")
	}
}
