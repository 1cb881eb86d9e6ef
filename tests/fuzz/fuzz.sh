#!/bin/bash
# Run libFuzzer harnesses and report one JSON line per harness and build.
#
#   tests/fuzz/fuzz.sh BUILDDIR:LABEL... -- NAME...
#
# For each build (e.g. build-fuzz:crc build-fuzz-nocrc:nocrc) and harness,
# BUILDDIR/fuzz/fuzz_NAME runs FUZZ_SECS seconds (default 60) on a fresh
# scratch copy of tests/fuzz/corpus/NAME/ in BUILDDIR/corpus/NAME/ (the
# repository is never written) with tests/fuzz/NAME.dict if there is one.
# An input that crashes, leaks, times out (10 s) or runs out of memory is
# left in BUILDDIR/crashes/NAME/; the exit status is 1 if any harness had one.
# Harnesses run one after the other (the cores are shared).
set -u
here=$(cd "$(dirname "$0")" && pwd)
secs=${FUZZ_SECS:-60}
builds=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do builds+=("$1"); shift; done
[ $# -gt 0 ] && shift
[ ${#builds[@]} -gt 0 ] && [ $# -gt 0 ] || { echo "usage: $0 BUILDDIR:LABEL... -- NAME..." >&2; exit 2; }
# the harnesses that write files write them to tmpfs when there is one (5x the executions)
if [ -z "${FUZZ_TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then FUZZ_TMPDIR=$(mktemp -d /dev/shm/curator-fuzz.XXXXXX); trap 'rm -rf "$FUZZ_TMPDIR"' EXIT; fi
export TMPDIR=${FUZZ_TMPDIR:-${TMPDIR:-/tmp}}
# FUZZ_RUNS=N: each harness stops after N executions (FUZZ_SECS still bounds it)
runs=()
[ -n "${FUZZ_RUNS:-}" ] && runs=(-runs="$FUZZ_RUNS")
status=0
for b in "${builds[@]}"; do
	dir=${b%%:*} label=${b#*:}
	for name in "$@"; do
		bin=$dir/fuzz/fuzz_$name corpus=$dir/corpus/$name crashes=$dir/crashes/$name log=$dir/fuzz_$name.log
		rm -rf "$corpus"
		mkdir -p "$corpus" "$crashes"
		cp "$here/corpus/$name"/* "$corpus"/ 2>/dev/null
		dict=()
		[ -f "$here/$name.dict" ] && dict=(-dict="$here/$name.dict")
		before=$(ls "$crashes" | wc -l)
		start=$(date +%s.%N)
		"$bin" -max_total_time="$secs" "${runs[@]}" -timeout=10 -print_final_stats=1 -artifact_prefix="$crashes/" \
			"${dict[@]}" "$corpus" >"$log" 2>&1
		rc=$?
		end=$(date +%s.%N)
		after=$(ls "$crashes" | wc -l)
		execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
		edges=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
		found=$((after - before))
		[ "$rc" -ne 0 ] && [ "$found" -eq 0 ] && found=1 # died without leaving an input
		[ "$found" -gt 0 ] && status=1
		took=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
		printf '{"fuzz": "%s", "build": "%s", "execs": %s, "edges": %s, "crashes": %d, "secs": %s}\n' \
			"$name" "$label" "${execs:-0}" "${edges:-0}" "$found" "$took"
		[ "$found" -gt 0 ] && grep -m1 -A12 'ERROR\|fuzz check failed\|runtime error' "$log" | sed 's/^/    /' >&2
	done
done
exit $status
