#!/bin/bash
# Benchmark: queueing a full scan's tasks (issue 17). A generated cluster
# (tools/gen_cluster, EXTENTS extents in EXTENTS/10 egroups, 8 shards) whose
# vdisks are all deleted (--deleted 100): a full scan then queues an
# egroup_delete per egroup (and a blocks_delete per vdisk), >= 1 M tasks at
# the default 10 M extents. In one run, on RANKS ranks (default 2): the scan
# with --dry-run (its own time: it computes every task and queues none), then
# the same scan queueing its tasks into a fresh curator.db. The queueing
# time is the difference; the goal is <= 20 % of the scan's own time.
# RUNS=N (default 1) repeats both on a fresh curator.db and keeps the best
# of each. Prints JSON lines; ratio > 1: better than the baseline (the goal).
set -euo pipefail
EXTENTS=${EXTENTS:-10000000}
RANKS=${RANKS:-2}
RUNS=${RUNS:-1}
BUILD=${BUILD:-build}
BENCH=queue
. "$(dirname "$0")/bench_lib.sh"
BIN=${CURATOR_BIN:-$BUILD/bin/curator}
MPIEXEC=${MPIEXEC:-mpiexec.mpich}
log() { echo "$*" >&2; }
log "generating $EXTENTS extents, every vdisk deleted"
"$BUILD/tools/gen_cluster" "$W/cl" --extents "$EXTENTS" --deleted 100 >&2
scan() { # extra args -> seconds
	local t0 t1
	t0=$(now)
	$MPIEXEC -n "$RANKS" "$BIN" -C "$W/cl" scan full "$@" >/dev/null 2>&1
	t1=$(now)
	sub "$t0" "$t1"
}
dry= queue= tasks=0
for r in $(seq "$RUNS"); do
	rm -f "$W"/cl/curator.db*
	d=$(scan --dry-run)
	q=$(scan)
	tasks=$(sqlite3 "$W/cl/curator.db" "SELECT count(*) FROM tasks")
	log "run $r: dry run $d s, queueing $q s, $tasks tasks queued"
	dry=$(min "$dry" "$d")
	queue=$(min "$queue" "$q")
done
[ "$tasks" -gt 0 ] || { log "no task was queued"; exit 1; }
qs=$(awk -v a="$dry" -v b="$queue" 'BEGIN { d = b - a; printf "%.3f", (d > 0.001 ? d : 0.001) }')
share=$(awk -v q="$qs" -v d="$dry" 'BEGIN { printf "%.1f", 100 * q / d }')
log "best of $RUNS: scan $dry s, with queueing $queue s: $tasks tasks queued in $qs s ($share % of the scan; load $(cut -d' ' -f1-3 /proc/loadavg))"
json "queue_${tasks}_tasks_${RANKS}ranks" "$qs" s "the scan's own time (dry run, ${EXTENTS} extents)" "$dry" \
	"$(ratio "$dry" "$qs")"
json "queue_share_of_scan_${RANKS}ranks" "$share" % "goal: 20 % of the scan's own time" 20 "$(ratio 20 "$share")"
