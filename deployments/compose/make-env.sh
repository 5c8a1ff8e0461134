#!/usr/bin/env bash
# Prints an environment file for docker-compose.yml: fresh random values for
# every secret Muster makes and checks itself (NATS keys included, from
# natskeys; the console's service key from console keygen), and empty lines for what only you can give (your host name,
# Twilio and SendGrid credentials). Compose refuses to start while a required
# one is empty and names it. NATS's certificates are files, not variables:
# deployments/nats/make-certs.sh makes them (docs/deploy.md).
#
#   bash deployments/compose/make-env.sh > .env && chmod 600 .env
#   bash deployments/compose/make-env.sh --dev > .env   # the simulator instead of
#                                                       # Twilio and SendGrid
#
# Run it once: the link and unsubscribe secrets sign links already in members'
# inboxes, and POSTGRES_PASSWORD only takes effect on a new volume. Keep the
# file out of git (it is in .gitignore).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

dev=false
case "${1:-}" in
--dev) dev=true ;;
"") ;;
*) echo "usage: $0 [--dev]" >&2; exit 2 ;;
esac

command -v openssl >/dev/null || { echo "make-env.sh: needs openssl" >&2; exit 1; }
# Hex only: the passwords go into postgres:// and redis:// URLs unescaped.
hex() { openssl rand -hex "${1:-32}"; }

# The console's service key (docs/security.md, "Service-to-service
# authentication"), made by the console itself: the seed is the console's
# secret, its public half what contacts, campaigns and delivery trust.
keygen=$(go run ./services/console/cmd/console keygen)
console_key=$(sed -n 's/^CONSOLE_SERVICE_KEY=//p' <<<"$keygen")
console_public=$(sed -n 's/^console=//p' <<<"$keygen")
[ -n "$console_key" ] && [ -n "$console_public" ] || { echo "make-env.sh: console keygen printed no key" >&2; exit 1; }

echo "# Muster compose settings, made $(date -u +%F) by make-env.sh$($dev && echo ' --dev'). Secrets: never commit."
cat <<ENV

# --- made here ---------------------------------------------------------------
POSTGRES_PASSWORD=$(hex)
REDIS_PASSWORD=$(hex)
CAMPAIGNS_LINK_SECRET=$(hex)
DELIVERY_UNSUBSCRIBE_SECRET=$(hex)
CONTACTS_ERASURE_KEY=$(hex)
DELIVERY_ERASURE_KEY=$(hex)
DELIVERY_SENDGRID_INBOUND_SECRET=$(hex)
CONSOLE_ADMIN_PASSWORD=$(hex 12)
# Prometheus's credential for every service's /metrics (profile observability).
MUSTER_METRICS_TOKEN=$(hex)
# Service credentials (docs/security.md): the console's Ed25519 key, the
# one caller of the services' APIs, and the callers each service answers
# with their public keys (not secrets).
CONSOLE_SERVICE_KEY=$console_key
CONTACTS_TRUSTED_CALLERS=console=$console_public
CAMPAIGNS_TRUSTED_CALLERS=console=$console_public
DELIVERY_TRUSTED_CALLERS=console=$console_public
ENV

# NATS: an nkey pair per service user (seeds for the services, public keys
# for the servers), made by the project's own tool.
echo
echo "# --- NATS users (natskeys) ----------------------------------------------------"
go run ./services/devstack/cmd/natskeys | grep -v '^#'

echo
if ! $dev; then
	cat <<'ENV'
# --- yours: fill these in -----------------------------------------------------
# The gateway's site address: your host name (HTTPS, automatic certificate;
# ports 80 and 443 must reach this host) or :80 behind your own TLS proxy.
MUSTER_SITE_ADDRESS=
# What members and providers reach it at, e.g. https://muster.example.org
MUSTER_PUBLIC_URL=
CONSOLE_ADMIN_EMAIL=
DELIVERY_TWILIO_ACCOUNT_SID=
DELIVERY_TWILIO_AUTH_TOKEN=
# One of these two:
DELIVERY_TWILIO_FROM=
DELIVERY_TWILIO_MESSAGING_SERVICE_SID=
DELIVERY_SENDGRID_API_KEY=
DELIVERY_SENDGRID_FROM=
# SendGrid: Settings > Mail Settings > Event Webhook > signed > verification key
DELIVERY_SENDGRID_WEBHOOK_PUBLIC_KEY=
ENV
	exit 0
fi

# Development: the simulator (docker compose --profile dev) stands in for
# Twilio and SendGrid, with credentials as random as real ones, and calls
# delivery back through the gateway at http://gateway.
key=$(mktemp)
trap 'rm -f "$key"' EXIT
openssl ecparam -name prime256v1 -genkey -noout -out "$key" 2>/dev/null
cat <<ENV
# --- development: the simulator instead of Twilio and SendGrid ------------------
MUSTER_SITE_ADDRESS=:80
MUSTER_PUBLIC_URL=http://gateway
CONSOLE_ADMIN_EMAIL=admin@example.org
DELIVERY_DEV_MODE=true
DELIVERY_TWILIO_API_URL=http://simulator:8090
DELIVERY_SENDGRID_API_URL=http://simulator:8090
DELIVERY_TWILIO_ACCOUNT_SID=AC$(hex 16)
DELIVERY_TWILIO_AUTH_TOKEN=$(hex 16)
DELIVERY_TWILIO_FROM=+15550001111
DELIVERY_SENDGRID_API_KEY=SG.$(hex 24)
# The simulator signs SendGrid events with the private half; delivery checks
# them with the public half.
SIMULATOR_SENDGRID_EVENT_KEY=$(openssl pkcs8 -topk8 -nocrypt -in "$key" -outform DER | base64 | tr -d '\n')
DELIVERY_SENDGRID_WEBHOOK_PUBLIC_KEY=$(openssl ec -in "$key" -pubout -outform DER 2>/dev/null | base64 | tr -d '\n')
ENV
