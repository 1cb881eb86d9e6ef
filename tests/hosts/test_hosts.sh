#!/bin/bash
# The curator across hosts (DESIGN.md §10, issue 21): hosts are network
# namespaces with their own hostnames, PID namespaces and link-local addresses
# on a bridge (tests/hosts/hosts.sh), Hydra reaches them through its ssh
# launcher, and every host sees the cluster directory.
#
#   layouts      1 rank; 1 host x 2 ranks; 2 hosts x 1 rank; 3 hosts x 1 rank:
#                full and partial scans (--dry-run) give the same findings and
#                counters, and queue the same task lists (sorted, on copies)
#   spread       `tasks run` on 3 hosts: every host's rank runs tasks, every
#                task runs on its node (0 bytes remote), the data reads back,
#                fsck is clean; on 2 hosts both run tasks
#   daemon       across 2 hosts: scheduled, requested and failure-triggered
#                (selective) scans, and SIGTERM stops every rank on both hosts
#   host death   every process of one host killed (SIGKILL to its PID
#                namespace's init) mid-scan: mpiexec fails, the host comes
#                back, the next scan marks the dead one failed (no heartbeat
#                for the TTL), succeeds, and the queue holds the task list of
#                a clean scan, nothing twice; the data reads back, fsck clean
#
# usage: test_hosts.sh [quick]     (env: CURATOR_BIN; CURATOR_HOSTS_KEEP=1 keeps $work;
#                                  HOSTS_TESTS="daemon host_death" runs those only; spread needs layouts)
# Exit 0 all passed, 1 a check failed, 77 skipped (no namespaces here: one line says why).
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CURATOR_BIN:-$here/build/bin/curator}
hosts=$here/tests/hosts/hosts.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/hosts-test.XXXXXX")
export HOSTS_STATE=$work/hosts
export CURATOR_LOG=warn
# leases (DESIGN.md §4a): a dead host's processes are declared dead a TTL after their last beat
export CURATOR_LEASE_TTL=${CURATOR_LEASE_TTL:-4s}
# (make asan: MPICH unloads UCX's modules at exit, so LeakSanitizer cannot attribute them; as tests/run.sh does)
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
unset CURATOR_NODE
failed=0; checks=0
cleanup() {
	[ -n "${daemon:-}" ] && kill -9 "$daemon" 2>/dev/null
	"$hosts" down
	[ "${CURATOR_HOSTS_KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() { checks=$((checks + 1)); echo "ok: $*"; }
fail() { checks=$((checks + 1)); failed=$((failed + 1)); echo "FAIL: $*" >&2; }
check() { # check WHAT COMMAND...: the command's exit status decides
	local what=$1; shift
	if "$@"; then ok "$what"; else fail "$what"; fi
}
cu() { "$bin" -C "$@"; }
# (curator.db with its queue's second shard attached, tasks and queue_sums read as one: job_db.h)
q() {
	sqlite3 -cmd ".timeout 5000" -cmd "ATTACH '$1/curator-q1.db' AS q1" \
		-cmd "CREATE TEMP VIEW tasks AS SELECT * FROM main.tasks UNION ALL SELECT * FROM q1.tasks" \
		"$1/curator.db" "$2" 2>/dev/null
}
# run DIR LAYOUT ARGS...: curator ARGS on DIR as LAYOUT (1x1: one rank, no mpiexec;
# HxR: H hosts x R ranks each); stdout to DIR.out, stderr to DIR.err; the exit status.
#
# A run that has not ended within HANG_SECS is killed and fails. MPICH 4.0.2
# (ch4:ucx, Debian 12) with UCX 1.13 used to hang in MPI_Finalize in most runs
# of 3 ranks over TCP (one rank waits for its endpoints' close while the others
# wait in the PMI barrier); mr_ctx_free leaves through Hydra's PMI finalize
# instead (mapreduce/mr_ctx.c), and a hang here is a regression.
HANG_SECS=${HANG_SECS:-25}
finalize_hangs=0
run() {
	local d=$1 l=$2 rc; shift 2
	case $l in
	1x1) "$bin" -C "$d" "$@" >"$d.out" 2>"$d.err"; return ;;
	1x2) set -- -n 2 -ppn 2 "$bin" -C "$d" "$@" ;;
	2x1) set -- -n 2 -ppn 1 "$bin" -C "$d" "$@" ;;
	3x1) set -- -n 3 -ppn 1 "$bin" -C "$d" "$@" ;;
	*) echo "bad layout $l" >&2; return 2 ;;
	esac
	timeout -k 5 "$HANG_SECS" "$hosts" mpiexec "$@" >"$d.out" 2>"$d.err"
	rc=$?
	[ $rc -ne 124 ] && [ $rc -ne 137 ] && return $rc
	"$hosts" reap
	finalize_hangs=$((finalize_hangs + 1))
	if grep -Eq '^scan [0-9]+: .*, done,|^tasks: ' "$d.out"; then
		fail "$l ${*: -2}: mpiexec hung after the work was done (MPI_Finalize?); killed"
	else
		fail "$l ${*: -2}: mpiexec hung before the work was done; killed"
	fi
	return 124
}
last_scan() { q "$1" "SELECT max(id) FROM scans"; }

# --- the cluster ----------------------------------------------------------
# 4 nodes (3 hosts: node 4 has no rank); RF2 with a snapshot, overwrites and a
# deleted vdisk (GC, compaction, refcounts); post-process compression aged past
# its delay; node 4's ssd failed (re-replication from nodes 1-3). $cl.expect/ holds what each vdisk must read back.
NOW=$(($(date +%s) + 2 * 86400))
export CURATOR_NOW=$NOW
mkcluster() {
	local d=$1 f=$work/data
	mkdir -p "$d.expect"
	cu "$d" init --nodes 4 --disks ssd:1x128M,hdd:1x256M >/dev/null &&
	cu "$d" container create r2 --rf 2 >/dev/null &&
	cu "$d" container create z --rf 2 --compress post:1h >/dev/null &&
	cu "$d" vdisk create a --container r2 --size 12M >/dev/null &&
	cu "$d" vdisk create b --container r2 --size 4M >/dev/null &&
	cu "$d" vdisk create t --container z --size 4M >/dev/null || return 1
	head -c 12M /dev/urandom > "$f" && cu "$d" vdisk write a "$f" >/dev/null && cp "$f" "$d.expect/a" || return 1
	head -c 4M /dev/urandom | cu "$d" vdisk write b - >/dev/null || return 1
	cu "$d" vdisk snapshot a a@1 >/dev/null && cp "$d.expect/a" "$d.expect/a@1" || return 1
	head -c 3M /dev/urandom > "$f" && cu "$d" vdisk write a --offset 2M "$f" >/dev/null &&
		dd if="$f" of="$d.expect/a" bs=1M seek=2 conv=notrunc status=none || return 1
	find /usr/share/doc -type f ! -name '*.gz' 2>/dev/null | head -300 | xargs cat 2>/dev/null | head -c 4M > "$f"
	truncate -s 4M "$f" && cu "$d" vdisk write t "$f" >/dev/null && cp "$f" "$d.expect/t" || return 1
	cu "$d" vdisk delete b >/dev/null && cu "$d" disk fail 7 >/dev/null
}
data_intact() { # every vdisk reads back what $d.expect holds
	local d=$1 v
	for v in "$d.expect"/*; do
		cu "$d" vdisk read "${v##*/}" --output "$work/readback" 2>>"$work/errors" && cmp -s "$v" "$work/readback" ||
			{ echo "vdisk ${v##*/} of $d differs" >&2; return 1; }
	done
}
fsck_clean() { cu "$1" fsck --quiet >/dev/null 2>>"$work/errors"; }

# findings and counters of scan $2 of cluster $1, sorted
scan_dump() {
	q "$1" "SELECT counters FROM scans WHERE id = $2"
	q "$1" "SELECT kind, egroup, extent, detail FROM findings WHERE scan = $2 ORDER BY 1, 2, 3, 4"
}
# the queue of cluster $1, sorted (every field a scan decides)
tasks_dump() {
	q "$1" "SELECT kind, target, version, priority, bytes, hex(arg), node FROM tasks WHERE state = 0 ORDER BY 1, 2"
}

# --- hosts ----------------------------------------------------------------
"$hosts" up 3
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -ne 0 ] && { echo "FAIL: hosts.sh up 3 (exit $rc)" >&2; exit 1; }

cl=$work/cl
mkcluster "$cl" || { echo "FAIL: making the cluster" >&2; exit 1; }

# --- layouts: identical findings and task lists ----------------------------
test_layouts() {
	local l kind s
	for l in 1x1 1x2 2x1 3x1; do
		for kind in full partial; do
			if ! run "$cl" "$l" scan "$kind" --dry-run; then
				fail "$kind --dry-run on $l: exit $? ($(tail -1 "$cl.err"))"
				continue
			fi
			s=$(last_scan "$cl")
			scan_dump "$cl" "$s" > "$work/dry-$kind.$l"
			rm -rf "$cl.$l-$kind" "$cl.$l-$kind.expect"
			cp -a "$cl" "$cl.$l-$kind" && cp -a "$cl.expect" "$cl.$l-$kind.expect"
			if ! run "$cl.$l-$kind" "$l" scan "$kind"; then
				fail "$kind on $l: exit $? ($(tail -1 "$cl.$l-$kind.err"))"
				continue
			fi
			tasks_dump "$cl.$l-$kind" > "$work/tasks-$kind.$l"
			[ "$(q "$cl.$l-$kind" "SELECT ranks FROM scans WHERE id = $(last_scan "$cl.$l-$kind")")" = \
				"$(echo "$l" | awk -Fx '{print $1 * $2}')" ] || fail "$kind on $l: the scan row names another rank count"
		done
	done
	[ -s "$work/tasks-full.1x1" ] || fail "the full scan queued no task (the cluster state is wrong)"
	for kind in full partial; do
		for l in 1x2 2x1 3x1; do
			check "$kind --dry-run: findings and counters on $l = on 1 rank" cmp -s "$work/dry-$kind.1x1" "$work/dry-$kind.$l"
			check "$kind: task list on $l = on 1 rank ($(wc -l < "$work/tasks-$kind.1x1") tasks)" \
				cmp -s "$work/tasks-$kind.1x1" "$work/tasks-$kind.$l"
		done
	done
}

# --- tasks run spreads over the hosts, each task on its node's rank -----------
nodes_line() { grep '^locality:' "$1.out"; }
test_spread() {
	local d=$cl.3x1-full line n
	if ! run "$d" 3x1 tasks run --sweep-grace 0s; then
		fail "tasks run on 3 hosts: exit $? ($(tail -1 "$d.err"))"; return
	fi
	line=$(nodes_line "$d")
	for n in 1 2 3; do
		check "tasks run on 3 hosts: host h$n ran tasks ($line)" grep -Eq " $n:[1-9]" <<<"$line"
	done
	# (which node a task names is its egroup's first healthy replica's: data-dependent)
	check "tasks run on 3 hosts: tasks of several nodes ($(q "$d" "SELECT group_concat(n) FROM (SELECT DISTINCT node AS n FROM tasks WHERE node > 0)"))" \
		[ "$(q "$d" "SELECT count(DISTINCT node) FROM tasks WHERE node BETWEEN 1 AND 3")" -ge 2 ]
	check "tasks run on 3 hosts: no task ran off its node" grep -q ", 0 B remote" <<<"$line"
	check "tasks run on 3 hosts: none left" [ "$(q "$d" "SELECT count(*) FROM tasks WHERE state IN (0, 1)")" = 0 ]
	check "after tasks on 3 hosts: every byte reads back" data_intact "$d"
	check "after tasks on 3 hosts: fsck clean" fsck_clean "$d"
	d=$cl.2x1-full
	if ! run "$d" 2x1 tasks run --sweep-grace 0s; then
		fail "tasks run on 2 hosts: exit $? ($(tail -1 "$d.err"))"; return
	fi
	line=$(nodes_line "$d")
	check "tasks run on 2 hosts: both ran tasks ($line)" grep -Eq " 1:[1-9].* 2:[1-9]" <<<"$line"
	check "tasks run on 2 hosts: node 3's tasks ($(q "$d" "SELECT count(*) FROM tasks WHERE node = 3")) ran too (no rank there)" \
		[ "$(q "$d" "SELECT count(*) FROM tasks WHERE node = 3")" -gt 0 ] && \
		[ "$(q "$d" "SELECT count(*) FROM tasks WHERE state IN (0, 1)")" = 0 ]
	check "tasks run on 2 hosts: node 3's bytes counted remote" grep -Evq ", 0 B remote" <<<"$line"
	check "after tasks on 2 hosts: every byte reads back" data_intact "$d"
}

# --- the daemon across 2 hosts --------------------------------------------------
wait_scans() { # DIR WHERE N SECS: until N scans match
	local i
	for i in $(seq 1 $(($4 * 10))); do
		[ "$(q "$1" "SELECT count(*) FROM scans WHERE $2")" -ge "$3" ] 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
test_daemon() {
	local d=$cl.daemon n t0 rc
	rm -rf "$d"; cp -a "$cl" "$d"; cp -a "$cl.expect" "$d.expect"
	# (the real clock: a fixed CURATOR_NOW would stop the schedule)
	env -u CURATOR_NOW CURATOR_LOG=info "$hosts" mpiexec -n 2 -ppn 1 "$bin" -C "$d" daemon --full-every 60s --partial-every 2s --tick 0.2 \
		>"$d.log" 2>&1 &
	daemon=$!
	check "daemon on 2 hosts: a scheduled full scan" wait_scans "$d" "kind = 'full' AND state = 'done' AND ranks = 2" 1 30
	check "daemon on 2 hosts: scheduled partial scans" wait_scans "$d" "kind = 'partial' AND state = 'done'" 2 20
	n=$(q "$d" "SELECT count(*) FROM scans WHERE kind = 'full'")
	cu "$d" scan full --request >/dev/null
	check "daemon on 2 hosts: the requested full scan" wait_scans "$d" "kind = 'full' AND state = 'done'" $((n + 1)) 20
	n=$(q "$d" "SELECT count(*) FROM scans WHERE kind = 'selective'")
	cu "$d" disk fail 2 >/dev/null # node 1's hdd (empty): node 4's ssd failed already, RF2 keeps no third copy
	# the event's answer: a selective scan of the disk's replicas (the shards' replica index)
	check "daemon on 2 hosts: a failure-triggered selective scan" wait_scans "$d" "kind = 'selective' AND state = 'done'" $((n + 1)) 15
	for _ in $(seq 1 100); do grep -Eq "failed disk\(s\): 2" "$d.log" && break; sleep 0.1; done
	check "daemon on 2 hosts: its log names the failure" grep -Eq "failed disk\(s\): 2" "$d.log"
	kill -TERM "$daemon"
	t0=$(date +%s)
	while kill -0 "$daemon" 2>/dev/null && [ $(($(date +%s) - t0)) -lt 15 ]; do sleep 0.1; done
	if kill -0 "$daemon" 2>/dev/null; then
		fail "daemon on 2 hosts: still running 15 s after SIGTERM"
		kill -9 "$daemon"
	fi
	wait "$daemon"; rc=$?
	daemon=
	check "daemon on 2 hosts: SIGTERM, exit 0 (was $rc)" [ "$rc" = 0 ]
	check "daemon on 2 hosts: no process left on h1 or h2" \
		[ "$("$hosts" pids h1 | wc -l)" = 1 ] && [ "$("$hosts" pids h2 | wc -l)" = 1 ]
	check "daemon on 2 hosts: no scan left running" [ "$(q "$d" "SELECT count(*) FROM scans WHERE state = 'running'")" = 0 ]
	check "daemon on 2 hosts: every byte reads back" data_intact "$d"
}

# --- a host dies mid-scan -----------------------------------------------------
# On a generated cluster (tools/gen_cluster: metadata only, 100 k extents) whose
# scans take seconds when every look at the clock sleeps.
# the three maps and the strips (not the change log a successful scan takes in and clears)
meta_sum() {
	local f t
	for f in "$1"/meta-*.db; do for t in egroups extents blocks strips fingerprints; do sqlite3 "$f" ".dump $t"; done; done | md5sum
}
test_host_death() {
	local d=$work/gen s rc t0 dead ref=$work/gen.ref before
	"$(dirname "$bin")/../tools/gen_cluster" "$d" --extents 100000 --deleted 20 >/dev/null || { fail "gen_cluster"; return; }
	cp -a "$d" "$ref"
	run "$ref" 2x1 scan full || { fail "host death: the reference scan (exit $?)"; return; }
	tasks_dump "$ref" > "$work/tasks-gen.ref"
	[ -s "$work/tasks-gen.ref" ] || fail "host death: the reference scan queued nothing"
	before=$(meta_sum "$d")
	CURATOR_SCAN_POLL_DELAY_US=30000 "$hosts" mpiexec -n 2 -ppn 1 "$bin" -C "$d" scan full >"$d.out" 2>"$d.err" &
	local scan=$!
	wait_scans "$d" "state = 'running' AND records > 0" 1 60 || fail "host death: the scan did not start"
	dead=$(last_scan "$d")
	"$hosts" kill h2
	t0=$(date +%s)
	while kill -0 "$scan" 2>/dev/null && [ $(($(date +%s) - t0)) -lt 60 ]; do sleep 0.1; done
	if kill -0 "$scan" 2>/dev/null; then
		fail "host death: mpiexec still running 60 s after h2 died"
		kill -9 "$scan"
	fi
	wait "$scan"; rc=$?
	check "host death: the scan's mpiexec fails (exit $rc, $(tail -1 "$d.err"))" [ "$rc" != 0 ]
	check "host death: h2 has no process left" [ "$("$hosts" pids h2 | wc -l)" = 0 ]
	for _ in $(seq 1 100); do [ "$("$hosts" pids h1 | wc -l)" = 1 ] && break; sleep 0.1; done
	"$hosts" pids h1 | while read -r p; do echo "h1 pid $p: $(tr '\0' ' ' < "/proc/$p/cmdline")"; done
	check "host death: nothing of the job is left on h1 within 10 s" [ "$("$hosts" pids h1 | wc -l)" = 1 ]
	check "host death: the dead scan's row is still running (its ranks are gone)" \
		[ "$(q "$d" "SELECT state FROM scans WHERE id = $dead")" = running ]
	"$hosts" restart h2 || { fail "host death: h2 does not come back"; return; }
	# the next scan waits for the dead scan's lock: its rank 0's lease silent for the TTL, fenced,
	# then the lock is its and the dead scan's row is recorded failed
	CURATOR_SCAN_POLL_DELAY_US=30000 run "$d" 2x1 scan full
	rc=$?
	check "host death: the next scan on 2 hosts succeeds (exit $rc)" [ "$rc" = 0 ]
	s=$(last_scan "$d")
	check "host death: the next scan is done" [ "$(q "$d" "SELECT state FROM scans WHERE id = $s")" = done ]
	check "host death: the killed scan is recorded failed ($(q "$d" "SELECT state || ': ' || coalesce(error, '') FROM scans WHERE id = $dead"))" \
		[ "$(q "$d" "SELECT state FROM scans WHERE id = $dead")" = failed ]
	tasks_dump "$d" > "$work/tasks-gen"
	check "host death: the queue is the task list of a clean scan ($(wc -l < "$work/tasks-gen.ref") tasks)" \
		cmp -s "$work/tasks-gen.ref" "$work/tasks-gen"
	check "host death: nothing queued twice" \
		[ "$(q "$d" "SELECT count(*) FROM (SELECT 1 FROM tasks GROUP BY kind, target HAVING count(*) > 1)")" = 0 ]
	check "host death: the metadata is untouched" [ "$(meta_sum "$d")" = "$before" ]
}

for t in ${HOSTS_TESTS:-layouts spread daemon host_death}; do "test_$t"; done
echo "host checks: $checks run, $failed failed; $finalize_hangs run(s) hung (killed)"
[ "$failed" = 0 ]
