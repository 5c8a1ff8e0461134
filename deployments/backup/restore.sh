#!/usr/bin/env bash
# Restores every Muster database from a directory backup.sh wrote, each
# in one transaction: a restore that fails leaves that database as it was.
# Stop the services first (docs/operations.md, "Restoring"); each target
# database must exist and be empty (a new database, or one dropped and
# created again).
#
#   deployments/backup/restore.sh <directory>
#
# Reads the same four <SERVICE>_DATABASE_URL settings as backup.sh and
# checks every dump against the manifest before restoring any.
set -euo pipefail

dir=${1:?usage: restore.sh <directory>}
services=(contacts campaigns delivery console)
[ -f "$dir/MANIFEST" ] || { echo "restore: no $dir/MANIFEST: not a backup.sh directory" >&2; exit 2; }
for svc in "${services[@]}"; do
	var="${svc^^}_DATABASE_URL"
	[ -n "${!var:-}" ] || { echo "restore: $var is not set" >&2; exit 2; }
	want=$(sed -n "s/^$svc=//p" "$dir/MANIFEST")
	got=$(sha256sum "$dir/$svc.dump" | cut -d' ' -f1)
	if [ "$want" != "$got" ]; then
		echo "restore: $dir/$svc.dump does not match the manifest (damaged or replaced); nothing restored" >&2
		exit 1
	fi
done
for svc in "${services[@]}"; do
	var="${svc^^}_DATABASE_URL"
	pg_restore --single-transaction --exit-on-error --no-owner --no-privileges --dbname="${!var}" "$dir/$svc.dump"
	echo "restore: $svc restored"
done
echo "restore: done; start the services (they migrate forward if the backup is older than the release)"
