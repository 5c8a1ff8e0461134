package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"reflect"
	"testing"
	"time"

	"github.com/musterhq/muster/services/simulator/sim"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantCfg  sim.Config
		wantAddr string
		wantErr  bool
	}{
		{
			name: "defaults",
			wantCfg: sim.Config{AccountSID: sim.DefaultAccountSID, AuthToken: sim.DefaultAuthToken,
				AutoCallbacks: true, AutoEmailEvents: true},
			wantAddr: "127.0.0.1:8090",
		},
		{
			name: "everything set",
			env: map[string]string{
				"SIMULATOR_ADDR": "127.0.0.1:9999", "SIMULATOR_ACCOUNT_SID": "AC1", "SIMULATOR_AUTH_TOKEN": "tok",
				"SIMULATOR_SENDGRID_KEY": "SG.k", "SIMULATOR_INBOUND_URL": "http://127.0.0.1:8080/twilio/inbound",
				"SIMULATOR_CALLBACK_DELAY": "250ms", "SIMULATOR_AUTO_CALLBACKS": "false",
				"SIMULATOR_CALLBACK_ORDER": "reversed", "SIMULATOR_CALLBACK_REPEAT": "3",
				"SIMULATOR_LATENCY": "40ms", "SIMULATOR_FAULT_HOLD": "5s",
				"SIMULATOR_EVENT_WEBHOOK_URL": "http://127.0.0.1:8080/sendgrid/events",
				"SIMULATOR_AUTO_EMAIL_EVENTS": "false", "SIMULATOR_EMAIL_EVENT_REPEAT": "2",
			},
			wantCfg: sim.Config{AccountSID: "AC1", AuthToken: "tok", SendGridKey: "SG.k",
				InboundURL: "http://127.0.0.1:8080/twilio/inbound", CallbackDelay: 250 * time.Millisecond,
				CallbackOrder: sim.CallbackReversed, CallbackRepeat: 3, Latency: 40 * time.Millisecond,
				FaultHold: 5 * time.Second, EventWebhookURL: "http://127.0.0.1:8080/sendgrid/events",
				EmailEventRepeat: 2},
			wantAddr: "127.0.0.1:9999",
		},
		{name: "bad delay", env: map[string]string{"SIMULATOR_CALLBACK_DELAY": "soon"}, wantErr: true},
		{name: "negative delay", env: map[string]string{"SIMULATOR_CALLBACK_DELAY": "-1s"}, wantErr: true},
		{name: "bad auto callbacks", env: map[string]string{"SIMULATOR_AUTO_CALLBACKS": "maybe"}, wantErr: true},
		{name: "bad callback order", env: map[string]string{"SIMULATOR_CALLBACK_ORDER": "backwards"}, wantErr: true},
		{name: "zero callback repeat", env: map[string]string{"SIMULATOR_CALLBACK_REPEAT": "0"}, wantErr: true},
		{name: "bad callback repeat", env: map[string]string{"SIMULATOR_CALLBACK_REPEAT": "twice"}, wantErr: true},
		{name: "bad latency", env: map[string]string{"SIMULATOR_LATENCY": "slow"}, wantErr: true},
		{name: "negative latency", env: map[string]string{"SIMULATOR_LATENCY": "-5ms"}, wantErr: true},
		{name: "bad fault hold", env: map[string]string{"SIMULATOR_FAULT_HOLD": "forever"}, wantErr: true},
		{name: "bad auto email events", env: map[string]string{"SIMULATOR_AUTO_EMAIL_EVENTS": "sometimes"}, wantErr: true},
		{name: "bad email event repeat", env: map[string]string{"SIMULATOR_EMAIL_EVENT_REPEAT": "-1"}, wantErr: true},
		{name: "bad event key", env: map[string]string{"SIMULATOR_SENDGRID_EVENT_KEY": "bm90IGEga2V5"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, addr, err := loadConfig(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if !reflect.DeepEqual(cfg, tt.wantCfg) || addr != tt.wantAddr {
				t.Errorf("got %+v %q, want %+v %q", cfg, addr, tt.wantCfg, tt.wantAddr)
			}
		})
	}
}

func TestLoadConfigEventKey(t *testing.T) {
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der := func(b []byte, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	tests := []struct {
		name    string
		value   string
		wantErr bool
	}{
		{"pkcs8", der(x509.MarshalPKCS8PrivateKey(p256)), false},
		{"sec1", der(x509.MarshalECPrivateKey(p256)), false},
		{"wrong curve", der(x509.MarshalECPrivateKey(p384)), true},
		{"not ecdsa", der(x509.MarshalPKCS8PrivateKey(edKey)), true},
		{"not base64", "%%%", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := loadConfig(func(k string) string {
				if k == "SIMULATOR_SENDGRID_EVENT_KEY" {
					return tt.value
				}
				return ""
			})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if cfg.SendGridEventKey == nil || !cfg.SendGridEventKey.Equal(p256) {
				t.Fatalf("key = %v, want the configured key", cfg.SendGridEventKey)
			}
			// The simulator publishes the configured key's public half.
			s := sim.New(cfg, nil)
			defer s.Close()
			want := der(x509.MarshalPKIXPublicKey(&p256.PublicKey))
			if got := s.SendGridPublicKey(); got != want {
				t.Errorf("public key = %s, want %s", got, want)
			}
		})
	}
}
