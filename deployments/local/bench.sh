#!/usr/bin/env bash
# bench.sh — run the benchmarks registered in bench-metrics.txt and print
# their summary lines, "BENCH <metric> <value> <unit>".
#
#   bench.sh            run every registered benchmark once, print every BENCH line
#   bench.sh <metric>   run only the benchmark behind <metric>, print only its line
#   (or BENCH=<metric> bench.sh)
#
# The full `go test` output goes to .run/bench.log. Exit status is non-zero if
# a benchmark fails or a requested metric prints no BENCH line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

REGISTRY="${BENCH_REGISTRY:-deployments/local/bench-metrics.txt}"
LOG=.run/bench.log
WANT="${1:-${BENCH:-}}"

names=() dirs=() regexps=() pkgs=()
while read -r name dir re pkg _; do
	case "$name" in "" | \#*) continue ;; esac
	[ -n "$re" ] || { echo "bench: bad line for $name in $REGISTRY" >&2; exit 2; }
	names+=("$name") dirs+=("$dir") regexps+=("$re") pkgs+=("${pkg:-./...}")
done <"$REGISTRY"

# Pick the registry entries to run.
selected=()
for i in "${!names[@]}"; do
	if [ -z "$WANT" ] || [ "${names[$i]}" = "$WANT" ]; then selected+=("$i"); fi
done
if [ "${#selected[@]}" -eq 0 ]; then
	echo "bench: unknown metric '$WANT'. Known metrics:" >&2
	printf '  %s\n' "${names[@]}" >&2
	exit 2
fi

mkdir -p .run
: >"$LOG"
status=0
declare -A done_runs=()
for i in "${selected[@]}"; do
	key="${dirs[$i]}|${regexps[$i]}|${pkgs[$i]}"
	[ -z "${done_runs[$key]:-}" ] || continue
	done_runs[$key]=1
	cmd=(go test -run '^$' -bench "${regexps[$i]}" -benchtime 1x -count 1 -timeout 30m "${pkgs[$i]}")
	echo "bench: (cd ${dirs[$i]} && go test -run '^\$' -bench '${regexps[$i]}' -benchtime 1x -count 1 -timeout 30m ${pkgs[$i]})" | tee -a "$LOG" >&2
	if ! (cd "${dirs[$i]}" && "${cmd[@]}") >>"$LOG" 2>&1; then
		echo "bench: FAILED: ${dirs[$i]} ${regexps[$i]} (full output in $LOG); last lines:" >&2
		tail -n 20 "$LOG" >&2
		status=1
	fi
done

# A benchmark's own stdout can land on the same line as go test's
# "BenchmarkX-N <tab>" prefix, so take BENCH lines from anywhere after a tab too.
bench_lines=$(sed -nE 's/^(.*\t)?[[:space:]]*(BENCH [^[:space:]]+ [^[:space:]]+ [^[:space:]]+).*$/\2/p' "$LOG")

if [ -n "$WANT" ]; then
	line=$(grep -E "^BENCH ${WANT} " <<<"$bench_lines" | tail -n 1 || true)
	if [ -z "$line" ]; then
		echo "bench: no 'BENCH $WANT' line in the output (see $LOG)" >&2
		exit 1
	fi
	echo "$line"
else
	[ -z "$bench_lines" ] || echo "$bench_lines"
	for n in "${names[@]}"; do
		grep -qE "^BENCH ${n} " <<<"$bench_lines" || { echo "bench: metric $n printed no BENCH line" >&2; status=1; }
	done
fi
exit "$status"
