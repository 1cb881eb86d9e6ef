#!/bin/bash
# Benchmark: post-process compression. SIZE_MB (default 512) of real files
# (/usr/lib, /usr/share, in a fixed order) written into an RF2 container
# with --compress post:1h; two hours later (CURATOR_NOW) a full scan queues
# compress tasks, which read each egroup through verified replicas, compress
# every extent with ISA-L igzip level 1, write the new egroup's two copies,
# fdatasync them, flip the metadata and delete the old copies.
# Baseline, in the same run: `igzip -1` (ISA-L's own command line tool,
# level 1) compressing the same bytes to /dev/null - the bare compressor, no
# I/O, no checks, no metadata. Page cache warm for both. Tasks run on 1 rank
# (the ratio the target is about) and on 2 ranks, on fresh copies of the
# cluster. RUNS=N keeps each side's best of N (alternating which goes
# first). Prints JSON lines; ratio > 1: ours faster. Target: >= 0.8.
set -euo pipefail
SIZE_MB=${SIZE_MB:-512}
BENCH=compress
. "$(dirname "$0")/bench_lib.sh"
command -v igzip >/dev/null || { echo "bench_compress: igzip not found (apt-get install isal)" >&2; exit 2; }
find /usr/lib/x86_64-linux-gnu /usr/share -type f -size +8k 2>/dev/null | LC_ALL=C sort |
	xargs -d '\n' cat 2>/dev/null | head -c $((SIZE_MB << 20)) > "$W/data" || true
bytes=$(stat -c %s "$W/data")
[ "$bytes" -gt $((16 << 20)) ] || { echo "bench_compress: too little real data" >&2; exit 1; }
c init --nodes 3 --disks "ssd:1x$((SIZE_MB * 2 + 256))M" >/dev/null
c container create c --rf 2 --compress post:1h >/dev/null
c vdisk create v --container c --size "$(( (bytes >> 20) + 1 ))M" >/dev/null
c vdisk write v "$W/data" >/dev/null
export CURATOR_NOW=$(($(date +%s) + 7200))
c scan full >/dev/null 2>&1
ntask=$(c tasks list --kind compress | tail -n +2 | wc -l)
[ "$ntask" -gt 0 ] || { echo "the scan queued no compress task" >&2; exit 1; }
cp -a "$W/cl" "$W/cl.0"
baseline() {
	t0=$(now)
	igzip -1 -c "$W/data" > /dev/null
	t1=$(now); base_s=$(min "$base_s" "$(sub "$t0" "$t1")")
	gz=$(igzip -1 -c "$W/data" | wc -c)
}
ours() { # ranks
	rm -rf "$W/cl"; cp -a "$W/cl.0" "$W/cl"; sync # (the copy's dirty pages are not ours to flush)
	before=$(du -sb "$W/cl/disks" | awk '{ print $1 }')
	RANKS=$1
	t0=$(now)
	mc tasks run --kind compress >/dev/null
	t1=$(now)
	if [ "$1" = 1 ]; then one_s=$(min "$one_s" "$(sub "$t0" "$t1")"); else two_s=$(min "$two_s" "$(sub "$t0" "$t1")"); fi
	after=$(du -sb "$W/cl/disks" | awk '{ print $1 }')
	done_n=$(c tasks list --kind compress --state done | tail -n +2 | wc -l)
	[ "$done_n" = "$ntask" ] || { echo "only $done_n of $ntask compress tasks done" >&2; exit 1; }
}
RUNS=${RUNS:-1}
base_s= one_s= two_s=
for ((run = 1; run <= RUNS; run++)); do
	if ((run % 2)); then baseline; ours 1; else ours 1; baseline; fi
	ours 2
done
[ "$(c vdisk read v --length "$bytes" | sha256sum | cut -d' ' -f1)" = "$(sha256sum < "$W/data" | cut -d' ' -f1)" ] ||
	{ echo "the vdisk does not read back" >&2; exit 1; }
echo "compressed $bytes real bytes ($ntask egroups): 1 rank $one_s s, 2 ranks $two_s s, igzip -1 $base_s s;" \
	"stored $before -> $after bytes (RF2); igzip -1 output $gz bytes" >&2
json "compress_task_throughput_1rank" "$(mbps "$bytes" "$one_s")" MB/s "igzip -1 to /dev/null" \
	"$(mbps "$bytes" "$base_s")" "$(ratio "$base_s" "$one_s")"
json "compress_task_throughput_2ranks" "$(mbps "$bytes" "$two_s")" MB/s "igzip -1 to /dev/null" \
	"$(mbps "$bytes" "$base_s")" "$(ratio "$base_s" "$two_s")"
json "compress_stored_ratio" "$(ratio "$after" "$before")" x "igzip -1 output / input" \
	"$(ratio "$gz" "$bytes")" "$(ratio "$(ratio "$gz" "$bytes")" "$(ratio "$after" "$before")")"
