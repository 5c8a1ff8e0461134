package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// natsTLSDir is where NATS nodes mount their certificate, key and CA, in
// compose and Kubernetes alike (docs/deploy.md).
const natsTLSDir = "/etc/nats/tls/"

// nkeyVariable matches the environment variables auth.conf reads the
// users' public keys from (shared/natsauth.KeyVariable).
var nkeyVariable = regexp.MustCompile(`\$(NATS_[A-Z0-9_]+_NKEY)\b`)

// materialize copies the configuration file at path, and the other .conf
// files beside it (an include), into a scratch directory where nats-server
// can read them here: the certificate files they name under natsTLSDir
// are throwaway ones, and every $NATS_<USER>_NKEY they read is returned
// so it can be given a throwaway key. It returns the copy's path.
func materialize(path, scratch string) (string, []string, error) {
	files, err := filepath.Glob(filepath.Join(filepath.Dir(path), "*.conf"))
	if err != nil {
		return "", nil, err
	}
	if !slices.Contains(files, path) {
		files = append(files, path)
	}
	tlsDir := filepath.Join(scratch, "tls") + "/"
	var vars []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", nil, err
		}
		text := strings.ReplaceAll(string(data), natsTLSDir, tlsDir)
		for _, m := range nkeyVariable.FindAllStringSubmatch(text, -1) {
			if !slices.Contains(vars, m[1]) {
				vars = append(vars, m[1])
			}
		}
		if err := os.WriteFile(filepath.Join(scratch, filepath.Base(f)), []byte(text), 0o600); err != nil {
			return "", nil, err
		}
	}
	if err := writeThrowawayTLS(tlsDir); err != nil {
		return "", nil, err
	}
	return filepath.Join(scratch, filepath.Base(path)), vars, nil
}

// throwawayKey is a valid user public key for a $NATS_<USER>_NKEY.
func throwawayKey() (string, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", err
	}
	return kp.PublicKey()
}

// writeThrowawayTLS writes ca.crt, tls.crt and tls.key into dir, as
// make-certs.sh names them.
func writeThrowawayTLS(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "check"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	for name, data := range map[string][]byte{
		"ca.crt": cert, "tls.crt": cert,
		"tls.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// checkNATSAuth holds a node to docs/security.md, "NATS": every client
// authenticates (no anonymous user), clients use TLS, and routes use
// mutual TLS so only a node with the CA's certificate joins.
func checkNATSAuth(o *server.Options) []string {
	var p []string
	if len(o.Nkeys) == 0 && len(o.Users) == 0 {
		p = append(p, "no authorization users: anonymous clients could publish anything (include auth.conf)")
	}
	if o.NoAuthUser != "" {
		p = append(p, fmt.Sprintf("no_auth_user %s lets anonymous clients in", o.NoAuthUser))
	}
	if o.TLSConfig == nil {
		p = append(p, "no tls block: clients must connect over TLS")
	}
	// nats-server always verifies both sides of a TLS route (the check
	// below guards against that ever changing).
	switch {
	case o.Cluster.TLSConfig == nil:
		p = append(p, "the cluster block has no tls: routes must use TLS")
	case o.Cluster.TLSConfig.ClientAuth != tls.RequireAndVerifyClientCert:
		p = append(p, "cluster tls does not verify the other node's certificate")
	}
	return p
}

// checkNATSClients checks what the services need to reach a NATS cluster
// that requires TLS and keys: in each Deployment's configuration, a CA
// file wherever a NATS URL is set, mounted into the container, and its
// own seed from a Secret.
func checkNATSClients(ix *index, tlsOn bool) []string {
	var p []string
	for _, w := range ix.workloads {
		if _, ok := w.doc.obj.(*appsv1.Deployment); !ok {
			continue
		}
		for _, c := range w.template.Spec.Containers {
			prefix := strings.ToUpper(c.Name) + "_"
			config := map[string]string{}
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil && ix.configMaps[ef.ConfigMapRef.Name] != nil {
					for k, v := range ix.configMaps[ef.ConfigMapRef.Name].Data {
						config[k] = v
					}
				}
			}
			if _, ok := config[prefix+"NATS_URL"]; !ok {
				continue
			}
			add := func(format string, args ...any) {
				p = append(p, fmt.Sprintf("%s: container %s: %s", w.doc.name(), c.Name, fmt.Sprintf(format, args...)))
			}
			if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
				return e.Name == prefix+"NATS_SEED" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil
			}) {
				add("%sNATS_SEED does not come from a Secret: NATS refuses a client without its key", prefix)
			}
			if !tlsOn {
				continue
			}
			ca := config[prefix+"NATS_CA_FILE"]
			if ca == "" {
				add("NATS requires TLS but %sNATS_CA_FILE is not set", prefix)
				continue
			}
			if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
				return strings.HasPrefix(ca, strings.TrimSuffix(m.MountPath, "/")+"/")
			}) {
				add("%sNATS_CA_FILE %s is on no volume the container mounts", prefix, ca)
			}
		}
	}
	return p
}

// checkNATSEnv checks that a NATS container sets every variable its
// configuration reads a public key from, and mounts its certificates.
func checkNATSEnv(c corev1.Container, vars []string, tlsOn bool) []string {
	var p []string
	for _, v := range vars {
		if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == v }) {
			p = append(p, fmt.Sprintf("the configuration reads $%s, which the container does not set", v))
		}
	}
	if tlsOn && !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return strings.TrimSuffix(m.MountPath, "/")+"/" == natsTLSDir
	}) {
		p = append(p, fmt.Sprintf("the configuration reads certificates from %s, where the container mounts nothing", natsTLSDir))
	}
	return p
}
