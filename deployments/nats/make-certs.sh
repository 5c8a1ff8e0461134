#!/usr/bin/env bash
# Makes the certificates NATS needs for TLS between clients and servers and
# between cluster nodes (docs/deploy.md, "NATS keys and certificates"):
#
#   make-certs.sh CA_DIR OUT_DIR HOSTNAME...
#
# CA_DIR keeps the certificate authority (ca.key, ca.crt), made on the first
# run and reused after, so certificates can be renewed without touching the
# services, which trust ca.crt. OUT_DIR gets what a NATS node mounts: ca.crt,
# tls.crt and tls.key (the shape of a Kubernetes TLS Secret or a cert-manager
# Certificate). The one certificate names every HOSTNAME and serves both as a
# server and as a client certificate, since nodes present it to each other on
# their routes. Keep CA_DIR out of every container and out of git.
#
#   compose:    make-certs.sh deployments/nats/ca deployments/nats/tls nats-1 nats-2 nats-3
#   Kubernetes: make-certs.sh deployments/nats/ca deployments/nats/tls nats nats.muster.svc \
#                 '*.nats-headless' '*.nats-headless.muster.svc' '*.nats-headless.muster.svc.cluster.local'
set -euo pipefail

if [ $# -lt 3 ]; then
	sed -n '2,18p' "$0" >&2
	exit 2
fi
ca_dir=$1 out=$2
shift 2
umask 077
mkdir -p "$ca_dir" "$out"

if [ ! -f "$ca_dir/ca.key" ]; then
	openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-keyout "$ca_dir/ca.key" -out "$ca_dir/ca.crt" -days 3650 -subj "/CN=Muster NATS CA" 2>/dev/null
	echo "made a new CA in $ca_dir"
fi

san=""
for h in "$@"; do san="${san:+$san,}DNS:$h"; done
ext=$(mktemp)
trap 'rm -f "$ext" "$out/tls.csr"' EXIT
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\nbasicConstraints=CA:FALSE\n' "$san" >"$ext"
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	-keyout "$out/tls.key" -out "$out/tls.csr" -subj "/CN=$1" 2>/dev/null
# About a year (CERT_DAYS): renew by running this again (the CA stays).
openssl x509 -req -in "$out/tls.csr" -CA "$ca_dir/ca.crt" -CAkey "$ca_dir/ca.key" -CAcreateserial \
	-out "$out/tls.crt" -days "${CERT_DAYS:-397}" -extfile "$ext" 2>/dev/null
cp "$ca_dir/ca.crt" "$out/ca.crt"
# The certificates are public; the node key is read by the NATS container
# only (compose mounts the directory read-only; it runs as root).
chmod 644 "$out/ca.crt" "$out/tls.crt"
echo "wrote $out/ca.crt, $out/tls.crt, $out/tls.key for: $*"
