#!/usr/bin/env bash
# Backs up every Muster database into one directory, as docs/operations.md
# ("Backups") describes: a pg_dump in PostgreSQL's custom format per
# database (a consistent snapshot of each, compressed, restorable table
# by table), plus a manifest saying when and from which server version.
#
#   deployments/backup/backup.sh <directory>
#
# Reads CONTACTS_DATABASE_URL, CAMPAIGNS_DATABASE_URL,
# DELIVERY_DATABASE_URL and CONSOLE_DATABASE_URL (the services' own
# settings); a database whose URL is not set is an error, so a backup is
# never silently partial. Needs pg_dump of the server's major version or
# newer.
set -euo pipefail

dir=${1:?usage: backup.sh <directory>}
mkdir -p "$dir"
services=(contacts campaigns delivery console)
for svc in "${services[@]}"; do
	var="${svc^^}_DATABASE_URL"
	if [ -z "${!var:-}" ]; then
		echo "backup: $var is not set" >&2
		exit 2
	fi
done
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for svc in "${services[@]}"; do
	var="${svc^^}_DATABASE_URL"
	pg_dump --format=custom --no-owner --no-privileges --file="$dir/$svc.dump" "${!var}"
	echo "backup: $svc -> $dir/$svc.dump ($(du -h "$dir/$svc.dump" | cut -f1))"
done
{
	echo "started=$started"
	echo "finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "pg_dump=$(pg_dump --version)"
	for svc in "${services[@]}"; do
		echo "$svc=$(sha256sum "$dir/$svc.dump" | cut -d' ' -f1)"
	done
} >"$dir/MANIFEST"
echo "backup: done ($dir/MANIFEST)"
