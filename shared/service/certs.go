package service

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
)

// CertExpiry exports muster_tls_certificate_expiry_timestamp_seconds
// {file,subject}: when each certificate in the PEM files a service loads
// (its NATS CA file) stops being valid, as a Unix time, read from the
// file at each scrape so a replaced file shows at once. A file that
// cannot be read or holds no certificate is a failed scrape of the
// metric, not a silent gap (MusterCertificateExpiresSoon in
// docs/operations.md alerts on both).
type CertExpiry struct {
	files []string
	desc  *prometheus.Desc
}

// NewCertExpiry watches files; empty names are skipped.
func NewCertExpiry(files ...string) *CertExpiry {
	c := &CertExpiry{desc: prometheus.NewDesc("muster_tls_certificate_expiry_timestamp_seconds",
		"When a TLS certificate the service loads expires (Unix time).", []string{"file", "subject"}, nil)}
	for _, f := range files {
		if f != "" {
			c.files = append(c.files, f)
		}
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *CertExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *CertExpiry) Collect(ch chan<- prometheus.Metric) {
	for _, f := range c.files {
		certs, err := readCerts(f)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.desc, err)
			continue
		}
		for _, cert := range certs {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(cert.NotAfter.Unix()), f, cert.Subject.String())
		}
	}
}

func readCerts(file string) ([]*x509.Certificate, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading certificate file: %w", err)
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, raw = pem.Decode(raw)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing a certificate in %s: %w", file, err)
		}
		out = append(out, cert)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no certificate", file)
	}
	return out, nil
}
