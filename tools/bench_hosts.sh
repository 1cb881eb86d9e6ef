#!/bin/bash
# Benchmark (make perf): the full scan (dry run: it computes everything and
# queues nothing, so runs repeat on the same metadata) of a generated cluster
# (tools/gen_cluster, EXTENTS extents) on 2 hosts x 1 rank against 1 host x 1
# rank and 1 host x 2 ranks, in one run. Hosts are network namespaces on a
# bridge (tests/hosts/hosts.sh): ranks of two hosts share no memory and talk
# over TCP (UCX), as on real hosts; both hosts share this machine's cores and
# disk, so the figure measures what the engine's distribution costs, not
# what a second machine's hardware adds. Goal (issue 21): 2 hosts >= 1.6x one
# host's single rank.
#
# Time of a run: from mpiexec's start to the scan row's end in curator.db
# (a run that hangs after its work, as MPI_Finalize over TCP did before
# mr_ctx_free left through Hydra's PMI finalize, is killed and counted; its
# time stands). Best of RUNS.
# Needs root (network namespaces); without, one line and no figures.
# Prints JSON lines; ratio > 1: the 2-host run is faster.
set -euo pipefail
EXTENTS=${EXTENTS:-10000000}
RUNS=${RUNS:-2}
BUILD=${BUILD:-build}
BIN=$(readlink -f "$BUILD/bin/curator")
BENCH=hosts
W=$(readlink -f "${BENCH_DIR:-bench-tmp}")/hosts
HOSTS=$(cd "$(dirname "$0")/.." && pwd)/tests/hosts/hosts.sh
export HOSTS_STATE=$W/hosts
rm -rf "$W"; mkdir -p "$W"
trap '"$HOSTS" down; rm -rf "$W"' EXIT
log() { echo "$*" >&2; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a ? b : a) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
json() { printf '{"bench": "%s", "figure": "%s", "value": %s, "unit": "%s", "baseline": "%s", "baseline_value": %s, "ratio": %s}\n' "$BENCH" "$@"; }
now() { date +%s.%N; }
q() { sqlite3 -cmd ".timeout 5000" "$W/cl/curator.db" "$1" 2>/dev/null || true; }

if ! "$HOSTS" up 2 >"$W/up" 2>&1; then
	log "bench_hosts: $(tail -1 "$W/up")"
	exit 0
fi
log "generating $EXTENTS extents"
"$BUILD/tools/gen_cluster" "$W/cl" --extents "$EXTENTS" >&2
unset CURATOR_NODE
: > "$W/hangs"
scan() { # mpiexec args -> seconds from start to the scan's end
	local before t0 t1 pid state=""
	before=$(q "SELECT coalesce(max(id), 0) FROM scans")
	t0=$(now)
	"$HOSTS" mpiexec "$@" "$BIN" -C "$W/cl" scan full --dry-run >/dev/null 2>"$W/err" &
	pid=$!
	while :; do
		state=$(q "SELECT state FROM scans WHERE id > ${before:-0} AND state != 'running' LIMIT 1")
		[ -n "$state" ] && break
		kill -0 "$pid" 2>/dev/null || { state=$(q "SELECT state FROM scans WHERE id > ${before:-0}"); break; }
		sleep 0.05
	done
	t1=$(now)
	for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$pid" 2>/dev/null; then # hung in MPI_Finalize after its work
		kill "$pid" 2>/dev/null; sleep 1; "$HOSTS" reap; echo "$*" >> "$W/hangs"
	fi
	wait "$pid" 2>/dev/null || true
	[ "$state" = done ] || { log "bench_hosts: scan $* ended '$state': $(tail -1 "$W/err")"; exit 1; }
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
s11=""; s12=""; s21=""
for r in $(seq "$RUNS"); do
	s11=$(min "$s11" "$(scan -n 1)")
	s12=$(min "$s12" "$(scan -n 2 -ppn 2)")
	s21=$(min "$s21" "$(scan -n 2 -ppn 1)")
	log "run $r (best so far, s): 1 host x 1 rank $s11, 1 host x 2 ranks $s12, 2 hosts x 1 rank $s21; finalize hangs so far $(wc -l < "$W/hangs")"
done
json "full_scan_${EXTENTS}_2hosts_x1_vs_1host_x1" "$s21" s "1 host x 1 rank" "$s11" "$(ratio "$s11" "$s21")"
json "full_scan_${EXTENTS}_2hosts_x1_vs_1host_x2" "$s21" s "1 host x 2 ranks" "$s12" "$(ratio "$s12" "$s21")"
json "full_scan_${EXTENTS}_2hosts_x1_speedup_vs_goal_1.6" "$(ratio "$s11" "$s21")" x "goal" 1.6 \
	"$(awk -v a="$s11" -v b="$s21" 'BEGIN { printf "%.2f", a / b / 1.6 }')"
