#!/bin/bash
# Benchmark: space back after `vdisk delete` (issue 19). A 3-node cluster,
# RF 2; vdisk "gone" of SIZE_MB MiB (default 1024) of random bytes and a
# small "keep" with a snapshot and a clone. The daemon runs on its defaults
# (no flags: full scans every 6 h, partial every 1 h, tick 1 s) under
# mpiexec -n RANKS (default 2); once its start-up scans are done, "gone" is
# deleted and the egroup files on the disks are watched until as many bytes
# as gone's own files held (measured right after it was written, before the
# others; about SIZE_MB x RF) are gone: the seconds from the delete to then. The baseline is what
# the daemon did before events (issue 19: space only came back with the
# next full scan): the seconds from the delete to the next scheduled full
# scan (the daemon row's next_full), which is a lower bound of that wait.
# Goal: <= 60 s. RUNS=N (default 1) repeats on a fresh cluster, keeps the best.
# Prints JSON lines; ratio > 1: better than the baseline.
set -euo pipefail
SIZE_MB=${SIZE_MB:-1024}
RANKS=${RANKS:-2}
RUNS=${RUNS:-1}
LIMIT=${LIMIT:-600}
BENCH=reclaim
. "$(dirname "$0")/bench_lib.sh"
MPIEXEC=${MPIEXEC:-mpiexec.mpich}
log() { echo "$*" >&2; }
# (files vanish while find walks: the curator is deleting them)
egroup_bytes() { { find "$W/cl/disks" -path '*/egroups/*' -type f -printf '%s\n' 2>/dev/null || true; } | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
dpid=
stop() { [ -n "$dpid" ] && kill -TERM "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null; dpid=; }
trap 'stop; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
head -c $((SIZE_MB << 20)) /dev/urandom > "$W/data"
head -c $((8 << 20)) /dev/urandom > "$W/small"
best= wait_full=
for r in $(seq "$RUNS"); do
	rm -rf "$W/cl"
	disk=$(( (SIZE_MB * 2 / 3 + 256) ))M
	c init --nodes 3 --disks "ssd:1x$disk" >/dev/null
	c container create c --rf 2 >/dev/null
	c vdisk create gone --container c --size "${SIZE_MB}M" >/dev/null
	c vdisk create keep --container c --size 8M >/dev/null
	c vdisk write gone "$W/data" >/dev/null
	gone_bytes=$(egroup_bytes) # the files of gone alone (written first): what must go
	c vdisk write keep "$W/small" >/dev/null
	c vdisk snapshot keep keep@1 >/dev/null
	c vdisk clone keep@1 kc >/dev/null
	$MPIEXEC -n "$RANKS" "$BIN" -C "$W/cl" daemon >"$W/daemon.log" 2>&1 &
	dpid=$!
	for i in $(seq 600); do # its start-up scans (a full one, a partial one)
		n=$(sqlite3 "$W/cl/curator.db" "SELECT count(*) FROM scans WHERE kind = 'partial' AND state = 'done'" 2>/dev/null || echo 0)
		[ "$n" -gt 0 ] && break
		sleep 0.1
	done
	sleep 1
	before=$(egroup_bytes)
	want=$gone_bytes
	t0=$(now)
	c vdisk delete gone >/dev/null
	next_full=$(sqlite3 "$W/cl/curator.db" "SELECT next_full FROM daemon WHERE id = 1")
	secs=
	while :; do
		t=$(now)
		freed=$((before - $(egroup_bytes)))
		if [ "$freed" -ge "$want" ]; then
			secs=$(sub "$t0" "$t")
			break
		fi
		if [ "$(sub "$t0" "$t" | cut -d. -f1)" -ge "$LIMIT" ]; then
			log "run $r: only $freed of $want bytes freed after $LIMIT s"
			exit 1
		fi
		sleep 0.05
	done
	w=$(awk -v n="$next_full" -v t="$t0" 'BEGIN { printf "%.0f", n - t }')
	log "run $r: $SIZE_MB MiB (x RF 2) reclaimed $secs s after vdisk delete; the next full scan was $w s away"
	stop
	c fsck --quiet >/dev/null || { log "run $r: fsck failed"; exit 1; }
	best=$(min "$best" "$secs")
	wait_full=$(min "$wait_full" "$w")
done
json "reclaim_${SIZE_MB}MiB_daemon_defaults_${RANKS}ranks" "$best" s "the next scheduled full scan (wait from the delete)" \
	"$wait_full" "$(ratio "$wait_full" "$best")"
json "reclaim_${SIZE_MB}MiB_goal" "$best" s "goal: 60 s" 60 "$(ratio 60 "$best")"
