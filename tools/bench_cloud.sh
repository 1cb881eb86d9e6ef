#!/bin/bash
# Benchmark: HDD -> cloud migration with the local-directory backend.
# SIZE_MB (default 512) of real files in an RF2 container with tiers
# hdd,cloud and a cold age of one day; two days later (CURATOR_NOW) a full
# scan queues tier_down tasks, which read one copy of each egroup, verify it
# whole, write the object (temporary file, fsync, rename, fsync of the
# directory), read it back to verify it, flip the row and delete both local
# copies. RANKS (default 1) ranks run them (one rank: the binary alone, no mpiexec).
# Baseline, in the same run: `cp` of one copy of every egroup file into a
# directory on the same filesystem, then `sync` - the bare copy. Both from a
# cold page cache when /proc/sys/vm/drop_caches is writable, else both warm;
# each side's program starts once before the clock (for ours, a task run
# with nothing to do: the MPI stack's start-up files, as a running daemon has).
# RUNS=N keeps each side's best of N, alternating which goes first.
# Prints JSON lines; ratio > 1: ours faster. Target: >= 0.7.
set -euo pipefail
SIZE_MB=${SIZE_MB:-512}
BENCH=cloud
. "$(dirname "$0")/bench_lib.sh"
RANKS=${RANKS:-1}
run() { if [ "$RANKS" = 1 ]; then c "$@"; else mc "$@"; fi; } # one rank: no mpiexec, as an admin runs it
cold=1; drop || cold=0
find /usr/lib/x86_64-linux-gnu /usr/share -type f -size +8k 2>/dev/null | LC_ALL=C sort |
	xargs -d '\n' cat 2>/dev/null | head -c $((SIZE_MB << 20)) > "$W/data" || true
bytes=$(stat -c %s "$W/data")
c init --nodes 3 --disks "hdd:1x$((SIZE_MB * 2 + 256))M" >/dev/null
c container create c --rf 2 --tiers hdd,cloud --cold-age 1d >/dev/null
c cloud set "$W/objects" >/dev/null
c vdisk create v --container c --size "$(( (bytes >> 20) + 1 ))M" >/dev/null
c vdisk write v "$W/data" >/dev/null
export CURATOR_NOW=$(($(date +%s) + 2 * 86400))
c scan full >/dev/null 2>&1
ntask=$(c tasks list --kind tier_down | tail -n +2 | wc -l)
[ "$ntask" -gt 0 ] || { echo "the scan queued no tier_down task" >&2; exit 1; }
cp -a "$W/cl" "$W/cl.0"
mapfile -t files < <(for f in "$W"/cl.0/disks/*/egroups/*.eg; do echo "$(basename "$f") $f"; done | sort -u -k1,1 | awk '{ print $2 }')
egbytes=$(cat "${files[@]}" | wc -c)
baseline() {
	rm -rf "$W/cpdst"; mkdir -p "$W/cpdst"; sync
	drop
	cp --version >/dev/null
	t0=$(now)
	cp "${files[@]}" "$W/cpdst/"
	sync
	t1=$(now); cp_s=$(min "$cp_s" "$(sub "$t0" "$t1")")
	rm -rf "$W/cpdst"
}
ours() {
	rm -rf "$W/cl" "$W/objects"; cp -a "$W/cl.0" "$W/cl"; mkdir -p "$W/objects"; sync
	drop
	run tasks run --kind disk_removed >/dev/null # start-up files (MPI, UCX, hwloc) warm, as in a running daemon
	t0=$(now)
	run tasks run --kind tier_down >/dev/null
	t1=$(now); mv_s=$(min "$mv_s" "$(sub "$t0" "$t1")")
	done_n=$(c tasks list --kind tier_down --state done | tail -n +2 | wc -l)
	[ "$done_n" = "$ntask" ] || { echo "only $done_n of $ntask moves done" >&2; exit 1; }
	[ "$(find "$W/cl/disks" -name '*.eg' | wc -l)" = 0 ] || { echo "local copies left" >&2; exit 1; }
}
RUNS=${RUNS:-1}
cp_s= mv_s=
for ((run = 1; run <= RUNS; run++)); do
	if ((run % 2)); then baseline; ours; else ours; baseline; fi
done
[ "$(c vdisk read v --length "$bytes" | sha256sum | cut -d' ' -f1)" = "$(sha256sum < "$W/data" | cut -d' ' -f1)" ] ||
	{ echo "the vdisk does not read back" >&2; exit 1; }
echo "moved $ntask egroups ($egbytes bytes) to the cloud tier in $mv_s s on $RANKS rank(s); cp + sync $cp_s s (cold cache: $cold)" >&2
json "hdd_to_cloud_throughput" "$(mbps "$egbytes" "$mv_s")" MB/s "cp of one copy of each egroup file + sync" \
	"$(mbps "$egbytes" "$cp_s")" "$(ratio "$cp_s" "$mv_s")"
