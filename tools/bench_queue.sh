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
# of each, wall clock and CPU seconds of the ranks (the steadier figure on a
# busy machine). The queueing run also records its own phases (scans.phases:
# the MapReduce jobs, then "queueing tasks"), a third figure measured within
# one run: the queue phase against the jobs' time. Prints JSON lines;
# ratio > 1: better than the baseline (the goal).
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
# scan EXTRA... -> "wall cpu": seconds of wall clock, and CPU seconds (user + sys) of the ranks
# (GNU time over mpiexec counts its waited-for children). On a loaded machine the CPU figure
# is the steadier one: other processes stretch the wall clock, not the work done.
scan() {
	/usr/bin/time -o "$W/time" -f "%e %U %S" $MPIEXEC -n "$RANKS" "$BIN" -C "$W/cl" scan full "$@" >/dev/null 2>&1
	awk '{ printf "%.3f %.3f", $1, $2 + $3 }' "$W/time"
}
# "queue_secs jobs_secs" of the last scan, as it recorded its phases
phases() { sqlite3 "$W/cl/curator.db" "SELECT printf('%.3f %.3f', sum(CASE WHEN json_extract(p.value, '\$.phase') = 'queueing tasks' THEN json_extract(p.value, '\$.secs') ELSE 0 END), sum(CASE WHEN json_extract(p.value, '\$.phase') != 'queueing tasks' THEN json_extract(p.value, '\$.secs') ELSE 0 END)) FROM scans, json_each(scans.phases) AS p WHERE scans.id = (SELECT max(id) FROM scans)"; }
dry= queue= dcpu= qcpu= tasks=0 pq= pj=
for r in $(seq "$RUNS"); do
	rm -f "$W"/cl/curator.db* "$W"/cl/curator-q*.db*
	read -r d dc <<<"$(scan --dry-run)"
	read -r q qc <<<"$(scan)"
	tasks=$(sqlite3 "$W/cl/curator.db" "ATTACH '$W/cl/curator-q1.db' AS q1; SELECT (SELECT count(*) FROM main.tasks) + (SELECT count(*) FROM q1.tasks)")
	read -r ph_q ph_j <<<"$(phases)"
	log "run $r: dry run $d s ($dc s CPU), queueing $q s ($qc s CPU), $tasks tasks queued; its phases: jobs $ph_j s, queueing tasks $ph_q s"
	dry=$(min "$dry" "$d")
	queue=$(min "$queue" "$q")
	dcpu=$(min "$dcpu" "$dc")
	qcpu=$(min "$qcpu" "$qc")
	if [ -z "$pq" ] || awk -v a="$ph_q" -v b="$pq" 'BEGIN { exit !(a < b) }'; then pq=$ph_q pj=$ph_j; fi
done
[ "$tasks" -gt 0 ] || { log "no task was queued"; exit 1; }
qs=$(awk -v a="$dry" -v b="$queue" 'BEGIN { d = b - a; printf "%.3f", (d > 0.001 ? d : 0.001) }')
share=$(awk -v q="$qs" -v d="$dry" 'BEGIN { printf "%.1f", 100 * q / d }')
log "best of $RUNS: scan $dry s, with queueing $queue s: $tasks tasks queued in $qs s ($share % of the scan; load $(cut -d' ' -f1-3 /proc/loadavg))"
json "queue_${tasks}_tasks_${RANKS}ranks" "$qs" s "the scan's own time (dry run, ${EXTENTS} extents)" "$dry" \
	"$(ratio "$dry" "$qs")"
json "queue_share_of_scan_${RANKS}ranks" "$share" % "goal: 20 % of the scan's own time" 20 "$(ratio 20 "$share")"
qc=$(awk -v a="$dcpu" -v b="$qcpu" 'BEGIN { d = b - a; printf "%.3f", (d > 0.001 ? d : 0.001) }')
cshare=$(awk -v q="$qc" -v d="$dcpu" 'BEGIN { printf "%.1f", 100 * q / d }')
log "CPU: scan $dcpu s, with queueing $qcpu s: queueing $qc s ($cshare % of the scan's CPU)"
json "queue_cpu_share_of_scan_${RANKS}ranks" "$cshare" % "goal: 20 % of the scan's own CPU time" 20 "$(ratio 20 "$cshare")"
pshare=$(awk -v q="$pq" -v j="$pj" 'BEGIN { printf "%.1f", 100 * q / j }')
log "within the queueing run: its MapReduce jobs $pj s, its queueing tasks phase $pq s ($pshare %)"
json "queue_phase_share_of_scan_phases_${RANKS}ranks" "$pshare" % "goal: 20 % of the scan's own time (its jobs, same run)" 20 "$(ratio 20 "$pshare")"
