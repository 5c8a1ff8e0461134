#!/usr/bin/env bash
# Runs promtool (Prometheus's rule checker) with the arguments given: the
# one on PATH if there is one, else one unpacked from Debian's prometheus
# package into .run/tools (only the binary: no service is installed or
# started). make deploy-check uses it to check and unit-test the alert
# rules in deployments/observability/prometheus.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

if command -v promtool >/dev/null 2>&1; then
	exec promtool "$@"
fi
tool=$root/.run/tools/promtool
if [ ! -x "$tool" ]; then
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
		# A fresh machine may have no package lists yet.
		if [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null; fi
		(cd "$work" && apt-get download prometheus >/dev/null) || {
			echo "promtool: not on PATH and Debian's prometheus package could not be downloaded; install promtool (apt-get install prometheus)" >&2
			exit 1
		}
	fi
	dpkg -x "$work"/prometheus_*.deb "$work/x"
	mkdir -p "$root/.run/tools"
	cp "$work/x/usr/bin/promtool" "$tool"
fi
exec "$tool" "$@"
