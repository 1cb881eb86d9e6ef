#!/bin/bash
# Benchmark: a full scan (dry run: it computes everything and queues
# nothing, so runs repeat on the same metadata) of a generated cluster
# (tools/gen_cluster: EXTENTS extents, as many block references, EXTENTS/10
# egroups, snapshots, garbage, dedup-like hot extents) on 1 and 2 ranks,
# against a plain read of the same rows from SQLite in the same run.
# Best of RUNS. Peak RSS per rank from /usr/bin/time when present.
# Prints JSON lines; ratio > 1: ours faster.
set -euo pipefail
EXTENTS=${EXTENTS:-10000000}
RUNS=${RUNS:-2}
BUILD=${BUILD:-build}
BIN=$BUILD/bin/curator
W=${BENCH_DIR:-bench-tmp}/scan
MPIEXEC=${MPIEXEC:-mpiexec.mpich}
BUDGET=${BUDGET:-}            # per-rank --mem-budget for the scan (default: the engine's 512M)
ONE_RANK=${ONE_RANK:-1}       # 0: skip the 1-rank scan (the 100 M run)
rm -rf "$W"; mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
log() { echo "$*" >&2; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a ? b : a) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
json() { printf '{"bench": "scan", "figure": "%s", "value": %s, "unit": "%s", "baseline": "%s", "baseline_value": %s, "ratio": %s}\n' "$@"; }
now() { date +%s.%N; }
log "generating $EXTENTS extents"
"$BUILD/tools/gen_cluster" "$W/cl" --extents "$EXTENTS" >&2
scan() { # ranks -> seconds (and peak RSS in $W/rss)
	local t0 t1
	t0=$(now)
	if [ -x /usr/bin/time ]; then
		$MPIEXEC -n "$1" /usr/bin/time -f "%M" -a -o "$W/rss" "$BIN" -C "$W/cl" scan full --dry-run \
			${BUDGET:+--mem-budget $BUDGET} >/dev/null 2>&1
	else
		$MPIEXEC -n "$1" "$BIN" -C "$W/cl" scan full --dry-run ${BUDGET:+--mem-budget $BUDGET} >/dev/null 2>&1
	fi
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
rd=""; s1=""; s2=""
for r in $(seq "$RUNS"); do
	rd=$(min "$rd" "$("$BUILD/tools/gen_cluster" "$W/cl" --read | awk '{ print $2 }')")
	if [ "$ONE_RANK" = 1 ]; then
		: > "$W/rss"; s1=$(min "$s1" "$(scan 1)"); rss1=$(sort -n "$W/rss" | tail -1)
	fi
	: > "$W/rss"; s2=$(min "$s2" "$(scan 2)"); rss2=$(sort -n "$W/rss" | tail -1)
	log "run $r (best so far, s): plain read $rd, scan 1 rank $s1, 2 ranks $s2; peak RSS per rank ${rss1:-?} / ${rss2:-?} KiB"
done
json "full_scan_${EXTENTS}_2ranks_vs_plain_read" "$s2" s "plain SQLite read of the same rows, 1 process" "$rd" "$(ratio "$rd" "$s2")"
if [ "$ONE_RANK" = 1 ]; then
	json "full_scan_${EXTENTS}_scaling_1_to_2" "$(ratio "$s1" "$s2")" x "1 rank" "$s1" "$(ratio "$s1" "$s2")"
	json "full_scan_${EXTENTS}_peak_rss_per_rank_2ranks" "${rss2:-0}" KiB "1 rank" "${rss1:-0}" "$(ratio "${rss1:-1}" "${rss2:-1}")"
else
	json "full_scan_${EXTENTS}_peak_rss_per_rank_2ranks" "${rss2:-0}" KiB "none" 0 0
fi
