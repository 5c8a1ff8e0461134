package main

import (
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
				AutoCallbacks: true},
			wantAddr: "127.0.0.1:8090",
		},
		{
			name: "everything set",
			env: map[string]string{
				"SIMULATOR_ADDR": "127.0.0.1:9999", "SIMULATOR_ACCOUNT_SID": "AC1", "SIMULATOR_AUTH_TOKEN": "tok",
				"SIMULATOR_SENDGRID_KEY": "SG.k", "SIMULATOR_INBOUND_URL": "http://127.0.0.1:8080/twilio/inbound",
				"SIMULATOR_CALLBACK_DELAY": "250ms", "SIMULATOR_AUTO_CALLBACKS": "false",
			},
			wantCfg: sim.Config{AccountSID: "AC1", AuthToken: "tok", SendGridKey: "SG.k",
				InboundURL: "http://127.0.0.1:8080/twilio/inbound", CallbackDelay: 250 * time.Millisecond},
			wantAddr: "127.0.0.1:9999",
		},
		{name: "bad delay", env: map[string]string{"SIMULATOR_CALLBACK_DELAY": "soon"}, wantErr: true},
		{name: "negative delay", env: map[string]string{"SIMULATOR_CALLBACK_DELAY": "-1s"}, wantErr: true},
		{name: "bad auto callbacks", env: map[string]string{"SIMULATOR_AUTO_CALLBACKS": "maybe"}, wantErr: true},
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
			if cfg != tt.wantCfg || addr != tt.wantAddr {
				t.Errorf("got %+v %q, want %+v %q", cfg, addr, tt.wantCfg, tt.wantAddr)
			}
		})
	}
}
