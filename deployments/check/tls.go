package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TLS Secret keys, as kubernetes.io/tls Secrets and cert-manager name them.
const (
	tlsCert = "tls.crt"
	tlsKey  = "tls.key"
	tlsCA   = "ca.crt"
)

// materializeSecret writes a Secret's keys as files under dir, as the
// kubelet mounts them. A TLS Secret whose values are placeholders (the
// base's CHANGE-ME) gets a throwaway CA and certificate for hosts instead,
// so the configuration that reads them can still be loaded; a real one is
// checked: the certificate chains to ca.crt, names every host, and serves
// both ends of a TLS connection (NATS nodes present it to each other).
func materializeSecret(s *corev1.Secret, dir string, hosts []string) ([]string, error) {
	values := map[string][]byte{}
	for k, v := range s.Data {
		values[k] = v
	}
	for k, v := range s.StringData {
		values[k] = []byte(v)
	}
	var problems []string
	if _, isTLS := values[tlsCert]; isTLS {
		if block, _ := pem.Decode(values[tlsCert]); block == nil {
			ca, cert, key, err := throwawayTLS(hosts)
			if err != nil {
				return nil, err
			}
			values[tlsCA], values[tlsCert], values[tlsKey] = ca, cert, key
		} else {
			problems = checkTLS(values, hosts)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	for k, v := range values {
		if err := os.WriteFile(filepath.Join(dir, k), v, 0o600); err != nil {
			return nil, err
		}
	}
	return problems, nil
}

// checkTLS holds a certificate to what NATS nodes need of it.
func checkTLS(values map[string][]byte, hosts []string) []string {
	block, _ := pem.Decode(values[tlsCert])
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return []string{fmt.Sprintf("%s: %v", tlsCert, err)}
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(values[tlsCA]) {
		return []string{tlsCA + " holds no certificate: the services could not check the nodes"}
	}
	var p []string
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			p = append(p, fmt.Sprintf("%s does not verify against %s for %v: %v", tlsCert, tlsCA, usage, err))
		}
	}
	for _, h := range hosts {
		if err := cert.VerifyHostname(h); err != nil {
			p = append(p, fmt.Sprintf("%s: %v (routes dial it by that name)", tlsCert, err))
		}
	}
	if time.Until(cert.NotAfter) < 30*24*time.Hour {
		p = append(p, fmt.Sprintf("%s expires %s", tlsCert, cert.NotAfter.Format(time.DateOnly)))
	}
	return p
}

// throwawayTLS makes a CA and a certificate for hosts, PEM-encoded.
func throwawayTLS(hosts []string) (ca, cert, key []byte, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "deploy-check CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "deploy-check"}, DNSNames: hosts,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caTmpl, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		return nil, nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}
