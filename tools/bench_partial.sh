#!/bin/bash
# Benchmark: a partial scan that reads what changed (issue 19). A generated
# cluster (tools/gen_cluster, EXTENTS extents in EXTENTS/10 egroups); a
# first `scan partial --all` takes its change log in (gen_cluster's writes
# are all in it); then PCT % (default 1) of the egroups change: their rows
# are rewritten in place (an UPDATE that keeps the row; the shards' triggers
# log it as any change is logged). In one run, on RANKS ranks (default 2),
# with the policy clock fixed (CURATOR_NOW, so no egroup crosses a time
# threshold in between): `scan partial --dry-run` (it reads the change log
# and the time windows) against `scan partial --all --dry-run` (every
# egroup, the old path); dry runs leave the log as it is, so runs repeat.
# Best of RUNS (default 1). Goal: <= 10 % of the time of --all.
# Prints JSON lines; ratio > 1: better than the baseline.
set -euo pipefail
EXTENTS=${EXTENTS:-10000000}
PCT=${PCT:-1}
RANKS=${RANKS:-2}
RUNS=${RUNS:-1}
BUILD=${BUILD:-build}
BENCH=partial
. "$(dirname "$0")/bench_lib.sh"
BIN=${CURATOR_BIN:-$BUILD/bin/curator}
MPIEXEC=${MPIEXEC:-mpiexec.mpich}
export CURATOR_NOW=${CURATOR_NOW:-$(date +%s)}
log() { echo "$*" >&2; }
log "generating $EXTENTS extents"
"$BUILD/tools/gen_cluster" "$W/cl" --extents "$EXTENTS" >&2
$MPIEXEC -n "$RANKS" "$BIN" -C "$W/cl" scan partial --all >/dev/null 2>&1
every=$((100 / PCT))
changed=0
for db in "$W"/cl/meta-*.db; do
	n=$(sqlite3 "$db" "UPDATE egroups SET version = version WHERE id % $every = 0; SELECT changes();")
	changed=$((changed + n))
done
total=$(for db in "$W"/cl/meta-*.db; do sqlite3 "$db" "SELECT count(*) FROM egroups"; done | awk '{ s += $1 } END { print s }')
log "$changed of $total egroups changed"
scan() { # args -> seconds
	local t0 t1
	t0=$(now)
	$MPIEXEC -n "$RANKS" "$BIN" -C "$W/cl" scan partial --dry-run "$@" >/dev/null 2>&1
	t1=$(now)
	sub "$t0" "$t1"
}
counter() { sqlite3 "$W/cl/curator.db" "SELECT json_extract(counters, '\$.$1') FROM scans WHERE id = (SELECT max(id) FROM scans)"; }
# the scan's own time: its phases as it recorded them (without mpiexec's start and MPI's set-up),
# its MapReduce jobs only (not the "queueing tasks" phase, as before there was one)
own() { sqlite3 "$W/cl/curator.db" "SELECT printf('%.3f', sum(json_extract(p.value, '\$.secs'))) FROM scans, json_each(scans.phases) AS p WHERE scans.id = (SELECT max(id) FROM scans) AND json_extract(p.value, '\$.phase') != 'queueing tasks'"; }
inc= all= oinc= oall=
for r in $(seq "$RUNS"); do
	i=$(scan)
	[ "$(counter incremental)" = 1 ] || { log "the partial scan read everything (no change log?)"; exit 1; }
	read_inc=$(counter egroups)
	oi=$(own)
	a=$(scan --all)
	read_all=$(counter egroups)
	oa=$(own)
	log "run $r: partial of what changed $i s ($read_inc egroups read; its phases $oi s), partial --all $a s ($read_all egroups; $oa s)"
	inc=$(min "$inc" "$i")
	all=$(min "$all" "$a")
	oinc=$(min "$oinc" "$oi")
	oall=$(min "$oall" "$oa")
done
share=$(awk -v i="$inc" -v a="$all" 'BEGIN { printf "%.1f", 100 * i / a }')
log "best of $RUNS: $inc s against $all s ($share %; load $(cut -d' ' -f1-3 /proc/loadavg))"
json "partial_${PCT}pct_changed_${EXTENTS}_extents_${RANKS}ranks" "$inc" s "partial scan of everything (--all)" "$all" \
	"$(ratio "$all" "$inc")"
json "partial_${PCT}pct_share_of_all" "$share" % "goal: 10 % of --all" 10 "$(ratio 10 "$share")"
oshare=$(awk -v i="$oinc" -v a="$oall" 'BEGIN { printf "%.1f", 100 * i / a }')
log "the scans' own time (their phases): $oinc s against $oall s ($oshare %)"
json "partial_${PCT}pct_own_time_share_of_all" "$oshare" % "goal: 10 % of --all (the scans' phases, without mpiexec's start)" 10 "$(ratio 10 "$oshare")"
