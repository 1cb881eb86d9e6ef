#!/bin/bash
# Leases instead of PIDs (issue 21, DESIGN.md §4a): writers in PID namespaces of their
# own (unshare --pid --fork --mount-proc: their pid means nothing to the scans), held at
# a named step of the write path (CURATOR_WRITE_PAUSE_AT, storage/st_write.c) after
# their data, egroup and extent-ID rows are committed and before their block rows,
# while full scans and tasks with --sweep-grace 0s run on 2 MPI ranks.
#   a1  held by a sleep (the lease keeps beating), then released: it must succeed,
#       every byte reads back, and nothing of the data was collected meanwhile;
#   a2  held by SIGSTOP while the scans run, then SIGCONT: either success and every
#       byte reads back, or a clear error and nothing of it visible;
#   b   killed -9 there: scans within the TTL keep its files, in-flight row and
#       egroups; after the TTL they go, nothing else does, fsck is clean;
#   c   SIGSTOPped past the TTL (scans fence it meanwhile), then SIGCONT: it fails
#       with "lease lost" and exit non-zero, nothing it wrote is visible, fsck clean.
# usage: lease_ns.sh [quick]   (env: CURATOR_BIN). Needs root for unshare: says so
# in one line and exits 0 where PID namespaces cannot be made.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CURATOR_BIN:-$here/build/bin/curator}
work=$(mktemp -d "${TMPDIR:-/tmp}/leasens.XXXXXX")
kids=()
cleanup() {
	for p in "${kids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
export CURATOR_LOG=error
export CURATOR_LEASE_TTL=${CURATOR_LEASE_TTL:-3s}
TTL=${CURATOR_LEASE_TTL%s}
failed=0

if ! unshare --pid --fork --mount-proc true 2>/dev/null; then
	echo "lease_ns: skipped: cannot make PID namespaces here (unshare --pid needs root)"
	exit 0
fi

fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
cu() { "$bin" -C "$@"; }
ranks2() { local d=$1; shift; mpiexec.mpich -n 2 "$bin" -C "$d" "$@"; }
files() { find "$1"/disks -name '*.eg' -printf '%P\n' 2>/dev/null | sort; }
inflight() { sqlite3 "$1/config.db" "SELECT count(*) FROM inflight"; }

# a cluster with vdisk v (24 MiB, its first 16 MiB written); $d.old: v's content
setup() {
	local d=$1
	cu "$d" init --nodes 3 --disks ssd:2x256M >/dev/null &&
	cu "$d" container create c --rf 2 >/dev/null &&
	cu "$d" vdisk create v --container c --size 24M >/dev/null &&
	cu "$d" vdisk create other --container c --size 8M >/dev/null || return 1
	head -c 16M /dev/urandom > "$work/base"
	head -c 8M /dev/urandom > "$work/other"
	cu "$d" vdisk write v "$work/base" >/dev/null && cu "$d" vdisk write other "$work/other" >/dev/null || return 1
	cu "$d" vdisk read v --output "$d.old" && cp "$work/other" "$d.other"
}

# start a writer of 5 MiB at offset 8M, in its own PID namespace, paused at $2; sets wpid (the
# writer's pid here) and wuns (unshare's pid). Waits until it reaches the step.
start_writer() {
	local d=$1 at=$2 i
	rm -f "$work/paused"
	head -c 5M /dev/urandom > "$d.new"
	CURATOR_WRITE_PAUSE_AT=$at CURATOR_WRITE_PAUSE_FILE=$work/paused \
		unshare --pid --fork --mount-proc sh -c '"$@"; exit $?' sh \
		"$bin" -C "$d" vdisk write v --offset 8M "$d.new" >"$work/wout" 2>"$work/werr" &
	wuns=$!
	kids+=("$wuns")
	for i in $(seq 1 300); do [ -s "$work/paused" ] && break; sleep 0.1; done
	[ -s "$work/paused" ] || { fail "$d: the writer never reached $at: $(cat "$work/werr")"; return 1; }
	# unshare -> sh (pid 1 inside) -> curator (pid 2 inside): its pid out here
	local shpid
	shpid=$(ps -o pid= --ppid "$wuns" | head -1 | tr -d ' ')
	wpid=$(ps -o pid= --ppid "$shpid" | head -1 | tr -d ' ')
	[ -n "$wpid" ] || { fail "$d: cannot find the writer's pid"; return 1; }
	kids+=("$wpid")
}

# expected content of v after a successful write of $d.new at 8M
expect_new() { cp "$1.old" "$1.want"; dd if="$1.new" of="$1.want" bs=1M seek=8 conv=notrunc status=none; }
reads_back() { # dir file-with-v's-content label
	local d=$1 want=$2
	cu "$d" vdisk read v --output "$work/got" || { fail "$3: vdisk read failed"; return 1; }
	cmp -s "$work/got" "$want" || { fail "$3: v does not read back as expected"; return 1; }
	cu "$d" vdisk read other --output "$work/got2" && cmp -s "$work/got2" "$d.other" ||
		fail "$3: vdisk other changed"
}
scans_and_tasks() { # dir: a full scan and its tasks on 2 ranks, --sweep-grace 0s
	ranks2 "$1" scan full --sweep-grace 0s >/dev/null 2>"$work/serr" || fail "$1: scan failed: $(tail -1 "$work/serr")"
	ranks2 "$1" tasks run --sweep-grace 0s >/dev/null 2>"$work/terr" || fail "$1: tasks failed: $(tail -1 "$work/terr")"
}
fsck_clean() {
	local out
	out=$(cu "$1" fsck 2>&1) || fail "$2: fsck: $(echo "$out" | tail -2)"
}
converge() { # scans + tasks until fsck reports no garbage (at most 4 rounds)
	local i
	for i in 1 2 3 4; do
		scans_and_tasks "$1"
		cu "$1" fsck | grep -q "garbage for the curator: 0 " && return 0
	done
	return 0
}

# --- a1: held by a sleep: the lease beats on, the scans must leave it alone --------------
d=$work/a1
if setup "$d"; then
	if start_writer "$d" "before_block_rows:$((TTL * 3))"; then
		expect_new "$d"
		scans_and_tasks "$d"
		scans_and_tasks "$d"
		wait "$wuns"; rc=$?
		[ "$rc" -eq 0 ] || fail "a1: a writer whose lease beat failed (exit $rc): $(cat "$work/werr")"
		grep -q "wrote 5242880 bytes" "$work/wout" || fail "a1: no 'wrote' line: $(cat "$work/wout")"
		reads_back "$d" "$d.want" a1
		scans_and_tasks "$d"
		reads_back "$d" "$d.want" "a1 after more scans"
		fsck_clean "$d" a1
	fi
else
	fail "a1: setup"
fi

# --- a2: SIGSTOP while scans run on 2 ranks, then SIGCONT --------------------------------
d=$work/a2
if setup "$d"; then
	if start_writer "$d" before_block_rows; then
		expect_new "$d"
		scans_and_tasks "$d"
		scans_and_tasks "$d"
		kill -CONT "$wpid"
		wait "$wuns"; rc=$?
		echo "lease_ns a2: the writer exited $rc: $(cat "$work/wout" "$work/werr" | head -1)"
		if [ "$rc" -eq 0 ]; then
			reads_back "$d" "$d.want" "a2 (succeeded)"
		else
			[ "$(wc -l < "$work/werr")" -eq 1 ] && grep -q "^curator: .*lease lost" "$work/werr" ||
				fail "a2: failed without one clear line: $(cat "$work/werr")"
			reads_back "$d" "$d.old" "a2 (failed: nothing of it visible)"
		fi
		converge "$d"
		fsck_clean "$d" a2
		if [ "$rc" -eq 0 ]; then reads_back "$d" "$d.want" "a2 after scans"; else reads_back "$d" "$d.old" "a2 after scans"; fi
	fi
else
	fail "a2: setup"
fi

# --- b: killed -9 at the step: cleaned only after the TTL --------------------------------
d=$work/b
if setup "$d"; then
	files "$d" > "$work/before"
	if start_writer "$d" before_block_rows; then
		kill -KILL "$wpid"; wait "$wuns"
		files "$d" > "$work/after"
		comm -13 "$work/before" "$work/after" > "$work/new"
		[ -s "$work/new" ] || fail "b: the writer made no egroup file before its block rows"
		[ "$(inflight "$d")" -ge 1 ] || fail "b: no in-flight row for the killed writer"
		scans_and_tasks "$d"
		[ "$(inflight "$d")" -ge 1 ] || fail "b: the in-flight row went before the TTL"
		files "$d" > "$work/now"
		[ -z "$(comm -23 "$work/new" "$work/now")" ] || fail "b: its files went before the TTL"
		reads_back "$d" "$d.old" "b (within the TTL)"
		sleep $((TTL + 1))
		converge "$d"
		[ "$(inflight "$d")" -eq 0 ] || fail "b: its in-flight row is still there after the TTL"
		files "$d" > "$work/now"
		[ -z "$(comm -12 "$work/new" "$work/now")" ] || fail "b: its files are still there after the TTL: $(comm -12 "$work/new" "$work/now" | head -3)"
		reads_back "$d" "$d.old" "b (after the TTL)"
		fsck_clean "$d" b
	fi
else
	fail "b: setup"
fi

# --- c: SIGSTOP past the TTL, fenced meanwhile, then SIGCONT -----------------------------
d=$work/c
if setup "$d"; then
	if start_writer "$d" before_block_rows; then
		scans_and_tasks "$d"          # sees its last beat
		sleep $((TTL + 1))
		scans_and_tasks "$d"          # declares it dead: fences, drops its in-flight row, collects
		kill -CONT "$wpid"
		wait "$wuns"; rc=$?
		echo "lease_ns c: the writer exited $rc: $(head -1 "$work/werr")"
		[ "$rc" -ne 0 ] || fail "c: a writer stopped past its TTL reported success"
		[ "$(wc -l < "$work/werr")" -eq 1 ] && grep -q "^curator: .*lease lost" "$work/werr" ||
			fail "c: no one-line 'lease lost' error: $(cat "$work/werr")"
		grep -q "wrote" "$work/wout" && fail "c: it printed a 'wrote' line"
		reads_back "$d" "$d.old" "c (nothing visible)"
		converge "$d"
		reads_back "$d" "$d.old" "c after scans"
		fsck_clean "$d" c
	fi
else
	fail "c: setup"
fi

echo "lease cases: 4 run, $failed failed"
[ "$failed" -eq 0 ]
