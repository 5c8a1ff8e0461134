package service_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/musterhq/muster/shared/service"
	"github.com/musterhq/muster/shared/testkit"
)

// TestCertExpiry reports the CA file's certificate's NotAfter, taken from
// the file itself, and fails the scrape of a file that is missing or holds
// no certificate rather than leaving a gap.
func TestCertExpiry(t *testing.T) {
	ca := testkit.NewCA(t)
	raw, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(raw)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(service.NewCertExpiry(ca.File, ""))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gathered %v", mfs)
	}
	m := mfs[0].GetMetric()[0]
	if got := int64(m.GetGauge().GetValue()); got != cert.NotAfter.Unix() {
		t.Fatalf("expiry = %d, want %d", got, cert.NotAfter.Unix())
	}

	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{empty, filepath.Join(t.TempDir(), "missing.pem")} {
		bad := prometheus.NewRegistry()
		bad.MustRegister(service.NewCertExpiry(f))
		if _, err := bad.Gather(); err == nil || !strings.Contains(err.Error(), filepath.Base(f)) {
			t.Errorf("gathering %s = %v, want an error naming it", f, err)
		}
	}
}
