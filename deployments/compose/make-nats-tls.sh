#!/usr/bin/env bash
# Makes the certificates NATS uses in docker-compose.yml: a CA, and one
# certificate for the three nodes, good for client TLS (services to nodes)
# and cluster TLS (node to node, each side checking the other). Written to
# DIR (default .nats-tls, in .gitignore) under the names a Kubernetes TLS
# Secret uses: ca.crt, tls.crt, tls.key. The CA's own key is thrown away:
# to rotate, run it again with -f and restart NATS and the services.
#
#   bash deployments/compose/make-nats-tls.sh [-f] [DIR] [DNS-NAME...]
#
# The default names are the compose nodes' (nats-1, nats-2, nats-3) and
# localhost. Bring your own CA instead if you have one: the files and their
# names are all compose needs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

force=false
if [ "${1:-}" = -f ]; then force=true; shift; fi
dir=${1:-.nats-tls}
shift || true
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(nats-1 nats-2 nats-3 localhost)

if [ -e "$dir/tls.crt" ] && ! $force; then
	echo "make-nats-tls.sh: $dir/tls.crt exists; -f makes new ones (then restart NATS and the services)" >&2
	exit 1
fi
command -v openssl >/dev/null || { echo "make-nats-tls.sh: needs openssl" >&2; exit 1; }
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

san=$(printf 'DNS:%s,' "${names[@]}")
san=${san%,},IP:127.0.0.1

openssl ecparam -name prime256v1 -genkey -noout -out "$work/ca.key"
openssl req -x509 -new -key "$work/ca.key" -sha256 -days 3650 -subj "/CN=Muster NATS CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	-out "$dir/ca.crt"
openssl ecparam -name prime256v1 -genkey -noout -out "$work/tls.key"
openssl req -new -key "$work/tls.key" -subj "/CN=${names[0]}" -out "$work/tls.csr"
printf '%s\n' "subjectAltName=$san" "keyUsage=critical,digitalSignature" \
	"extendedKeyUsage=serverAuth,clientAuth" "basicConstraints=critical,CA:FALSE" >"$work/ext"
openssl x509 -req -in "$work/tls.csr" -CA "$dir/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
	-days 825 -sha256 -extfile "$work/ext" -out "$dir/tls.crt" 2>/dev/null
install -m 0600 "$work/tls.key" "$dir/tls.key"
chmod 0644 "$dir/ca.crt" "$dir/tls.crt"
echo "wrote $dir/ca.crt, $dir/tls.crt, $dir/tls.key for ${names[*]}" >&2
