#!/bin/bash
# Benchmark: sequential vdisk write (RF2) and read-back of SIZE_MB (default
# 1 GiB) against dd on the same filesystem: dd writes the same bytes twice
# (two replicas) and reads one copy back. Both sides make their data
# durable (dd conv=fsync; the write path fdatasyncs before it commits).
#
# Reads are measured twice: cold (page cache dropped first, when this
# process may write /proc/sys/vm/drop_caches) and warm (from the page
# cache, where every byte's CRC32C verification is a second pass dd does
# not make). Best of RUNS interleaved runs for each side.
# Prints JSON lines (DESIGN.md §8); ratio > 1: curator faster.
set -euo pipefail
BIN=${CURATOR_BIN:-build/bin/curator}
SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-3}
W=${BENCH_DIR:-bench-tmp}/vdisk-io
rm -rf "$W"; mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
now() { date +%s.%N; }
mbps() { awk -v mb="$SIZE_MB" -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", mb / (b - a) }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; }
cold=1; drop || { cold=0; echo "note: cannot drop the page cache here; cold reads skipped" >&2; }
head -c $((SIZE_MB << 20)) /dev/urandom > "$W/src"
declare -A best=([dw]=0 [dr]=0 [dc]=0 [cw]=0 [cr]=0 [cc]=0)
keep() { best[$1]=$(max "${best[$1]}" "$2"); }
for r in $(seq "$RUNS"); do
	rm -f "$W/a" "$W/b"; cat "$W/src" > /dev/null; sync
	t0=$(now)
	dd if="$W/src" of="$W/a" bs=1M conv=fsync status=none
	dd if="$W/src" of="$W/b" bs=1M conv=fsync status=none
	t1=$(now); keep dw "$(mbps "$t0" "$t1")"
	for i in 1 2 3; do
		t0=$(now); dd if="$W/a" of=/dev/null bs=1M status=none; t1=$(now); keep dr "$(mbps "$t0" "$t1")"
	done
	if [ $cold = 1 ]; then
		drop; t0=$(now); dd if="$W/a" of=/dev/null bs=1M status=none; t1=$(now); keep dc "$(mbps "$t0" "$t1")"
	fi
	rm -f "$W/a" "$W/b"; rm -rf "$W/cl"
	"$BIN" -C "$W/cl" init --nodes 2 --disks "ssd:1x$((SIZE_MB + 256))M" >/dev/null
	"$BIN" -C "$W/cl" container create c --rf 2 >/dev/null
	"$BIN" -C "$W/cl" vdisk create v --container c --size "${SIZE_MB}M" >/dev/null
	cat "$W/src" > /dev/null; sync
	t0=$(now); "$BIN" -C "$W/cl" vdisk write v "$W/src" >/dev/null; t1=$(now); keep cw "$(mbps "$t0" "$t1")"
	for i in 1 2 3; do
		t0=$(now); "$BIN" -C "$W/cl" vdisk read v --output /dev/null; t1=$(now); keep cr "$(mbps "$t0" "$t1")"
	done
	if [ $cold = 1 ]; then
		drop; t0=$(now); "$BIN" -C "$W/cl" vdisk read v --output /dev/null; t1=$(now); keep cc "$(mbps "$t0" "$t1")"
	fi
	echo "run $r (best so far, MB/s): write dd x2 ${best[dw]} curator RF2 ${best[cw]}; cold read dd ${best[dc]}" \
	     "curator ${best[cc]}; warm read dd ${best[dr]} curator ${best[cr]}" >&2
done
"$BIN" -C "$W/cl" vdisk read v --output "$W/back"
cmp "$W/back" "$W/src" >&2 || { echo "read-back differs" >&2; exit 1; }
json() {
	awk -v f="$1" -v v="$2" -v base="$3" -v bv="$4" 'BEGIN {
		printf "{\"bench\": \"vdisk_io\", \"figure\": \"%s\", \"value\": %s, \"unit\": \"MB/s\", \"baseline\": \"%s\", \"baseline_value\": %s, \"ratio\": %.3f}\n", f, v, base, bv, v / bv }'
}
json "write_${SIZE_MB}MiB_rf2" "${best[cw]}" "dd x2 conv=fsync" "${best[dw]}"
[ $cold = 1 ] && json "read_cold_${SIZE_MB}MiB" "${best[cc]}" "dd read, cold cache" "${best[dc]}"
json "read_warm_${SIZE_MB}MiB" "${best[cr]}" "dd read, page cache" "${best[dr]}"
