#!/usr/bin/env bash
# ensure-services.sh — make sure the local PostgreSQL (127.0.0.1:5432) and
# Redis (127.0.0.1:6379) that Muster's tests and devstack use are up.
#
# Idempotent: a service whose port already answers is left alone. Otherwise it
# is started if installed, or installed from Debian's packages (root only) and
# then started. PostgreSQL must accept
#   psql "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
# without a password; if it does not, pg_hba.conf gets trust rules for
# 127.0.0.1/32 and ::1/128 and the server is reloaded.
#
# Env: ENSURE_SERVICES_WAIT        seconds to wait for each service (default 30)
#      ENSURE_SERVICES_REDIS_PORT  Redis port (default 6379; other values are
#                                  for testing this script's start path)
set -euo pipefail

PG_PORT=5432
REDIS_PORT="${ENSURE_SERVICES_REDIS_PORT:-6379}"
PG_URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres?sslmode=disable"
WAIT_SECONDS="${ENSURE_SERVICES_WAIT:-30}"

log() { echo "ensure-services: $*"; }
die() { echo "ensure-services: ERROR: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }
have() { command -v "$1" >/dev/null 2>&1; }

# tcp_open PORT — true if something accepts TCP connections on 127.0.0.1:PORT.
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

pg_up() {
	if have pg_isready; then
		pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2
	else
		tcp_open "$PG_PORT"
	fi
}

redis_up() {
	if have redis-cli; then
		[ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
	else
		tcp_open "$REDIS_PORT"
	fi
}

# wait_for NAME CHECK — poll CHECK once a second for at most WAIT_SECONDS.
wait_for() {
	local name=$1 check=$2 i
	for ((i = 0; i < WAIT_SECONDS; i++)); do
		if "$check"; then
			log "$name is up"
			return 0
		fi
		sleep 1
	done
	die "$name did not answer within ${WAIT_SECONDS}s"
}

# ---------------------------------------------------------------- install ---

APT_UPDATED=0
apt_install() {
	if ! is_root; then
		die "missing packages: $*. Install them with:
    sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y $*
and run this script again."
	fi
	have apt-get || die "missing packages ($*) and no apt-get here: install them by hand"
	if [ "$APT_UPDATED" -eq 0 ]; then
		log "apt-get update"
		apt-get update -qq
		APT_UPDATED=1
	fi
	log "apt-get install -y $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

pg_installed() {
	have pg_ctlcluster && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

# --------------------------------------------------------------- postgres ---

# The PostgreSQL major version to use: the first configured cluster's, else
# the newest installed server's.
pg_version() {
	local v
	v=$(ls /etc/postgresql 2>/dev/null | head -1 || true)
	if [ -z "$v" ]; then
		v=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1 || true)
	fi
	[ -n "$v" ] || die "cannot find an installed PostgreSQL version"
	echo "$v"
}

start_postgres() {
	local ver
	ver=$(pg_version)
	if [ ! -f "/etc/postgresql/$ver/main/postgresql.conf" ]; then
		is_root || die "no PostgreSQL cluster $ver/main; create one with:
    sudo pg_createcluster $ver main --port $PG_PORT --start"
		log "pg_createcluster $ver main --port $PG_PORT --start"
		pg_createcluster "$ver" main --port "$PG_PORT" --start
		return
	fi
	log "starting PostgreSQL: pg_ctlcluster --skip-systemctl-redirect $ver main start"
	if ! pg_ctlcluster --skip-systemctl-redirect "$ver" main start; then
		# "already running" exits non-zero too; the wait below decides.
		is_root || log "hint: as non-root you may need: sudo pg_ctlcluster --skip-systemctl-redirect $ver main start"
	fi
}

pg_login_ok() {
	have psql || return 0 # nothing to check with; pg_isready already passed
	PGCONNECT_TIMEOUT=5 psql -X -w -q -At "$PG_URL" -c 'select 1' >/dev/null 2>&1
}

# Give 127.0.0.1 and ::1 trust auth if a passwordless login is refused.
ensure_pg_trust() {
	if ! have psql; then
		log "psql not installed: skipping the passwordless-login check"
		return
	fi
	if pg_login_ok; then
		log "PostgreSQL accepts $PG_URL without a password"
		return
	fi
	is_root || die "PostgreSQL refuses a passwordless login as postgres on 127.0.0.1.
Add these lines at the top of pg_hba.conf and reload PostgreSQL (as root):
    host all all 127.0.0.1/32 trust
    host all all ::1/128 trust"

	local hba ver
	hba=$(runuser -u postgres -- psql -X -At -c 'show hba_file' 2>/dev/null || true)
	if [ -z "$hba" ]; then
		ver=$(pg_version)
		hba="/etc/postgresql/$ver/main/pg_hba.conf"
	fi
	[ -f "$hba" ] || die "cannot find pg_hba.conf (tried $hba)"

	log "adding trust rules for 127.0.0.1/32 and ::1/128 at the top of $hba"
	cp -p "$hba" "$hba.bak-ensure-services"
	# pg_hba.conf is first-match-wins, so the new rules go first.
	{
		echo "# Added by muster deployments/local/ensure-services.sh: local test access."
		echo "host    all    all    127.0.0.1/32    trust"
		echo "host    all    all    ::1/128         trust"
		cat "$hba.bak-ensure-services"
	} >"$hba"

	log "reloading PostgreSQL"
	runuser -u postgres -- psql -X -q -c 'select pg_reload_conf()' >/dev/null 2>&1 ||
		pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main reload
	sleep 1
	pg_login_ok || die "PostgreSQL still refuses $PG_URL after editing $hba"
	log "PostgreSQL accepts $PG_URL without a password"
}

# ------------------------------------------------------------------ redis ---

start_redis() {
	local dir=/var/lib/redis logdir=/var/log/redis
	mkdir -p "$dir" "$logdir" 2>/dev/null || true
	if [ ! -w "$dir" ] || [ ! -w "$logdir" ]; then
		dir=/tmp/muster-redis
		logdir=/tmp/muster-redis
		mkdir -p "$dir"
	fi
	log "starting Redis: redis-server --daemonize yes --port $REDIS_PORT --dir $dir --logfile $logdir/ci.log"
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" \
		--save "" --appendonly no --dir "$dir" --logfile "$logdir/ci.log" ||
		log "redis-server failed to start (see $logdir/ci.log)"
}

# ------------------------------------------------------------------- main ---

pg_running=0 redis_running=0
if pg_up; then
	pg_running=1
	log "PostgreSQL already answering on 127.0.0.1:$PG_PORT"
fi
if redis_up; then
	redis_running=1
	log "Redis already answering on 127.0.0.1:$REDIS_PORT"
fi

missing=()
if [ "$pg_running" -eq 0 ] && ! pg_installed; then missing+=(postgresql); fi
if [ "$redis_running" -eq 0 ] && ! have redis-server; then missing+=(redis-server); fi
if [ "${#missing[@]}" -gt 0 ]; then
	apt_install "${missing[@]}"
fi

# Packages may have started their service during installation.
if [ "$pg_running" -eq 0 ] && ! pg_up; then start_postgres; fi
if [ "$redis_running" -eq 0 ] && ! redis_up; then start_redis; fi

wait_for "PostgreSQL (127.0.0.1:$PG_PORT)" pg_up
wait_for "Redis (127.0.0.1:$REDIS_PORT)" redis_up
ensure_pg_trust
log "all services ready"
