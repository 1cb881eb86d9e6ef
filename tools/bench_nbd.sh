#!/bin/bash
# Benchmark: the storage controller (curator serve: nbdkit + serve/sv_plugin.c) against
# nbdkit's own `file` plugin serving a raw file on the same file system, in the same run,
# with the same fio jobs over NBD (fio's nbd engine, a Unix socket):
#   seq_write_1m     1 MiB sequential writes, iodepth 4, a flush at the end
#   randwrite_4k     4 KiB random writes, iodepth 16, a flush every 1000 writes (fsync=1000)
#   randread_4k      4 KiB random reads, iodepth 16, of what the sequential job wrote
# each for RF 1 and RF 2 (one cluster of 2 nodes each, the vdisk SIZE_MB), throughput
# (MiB/s or IOPS; ratio > 1: curator faster) and p99 completion latency (ratio > 1:
# curator's p99 lower); and the metadata the 4 KiB random writes cost: bytes the
# metadata shards (meta-*.db and their WAL) grew per GiB written.
# Env: SIZE_MB (default 1024), RUNTIME (s per job, default 20), DISK_MB (each node's
# disk; default 3 x SIZE_MB + 512 + 1024 per second of RUNTIME: overwrites are new
# extents, and no curator runs to collect the old ones during the jobs), CURATOR_BIN,
# CURATOR_NBD_PLUGIN. Prints JSON lines (DESIGN.md §8) last.
# Every job starts on a quiet device: `sync` before it, and the baseline's raw file is
# deleted before the clusters run (else the write-back of one system's dirty pages
# lands on the next one's jobs: the first cluster's sequential writes measured
# 0.43 x with the baseline's 1 GiB still being written out, 0.75 x on the second).
set -euo pipefail
BENCH=nbd
. "$(dirname "$0")/bench_lib.sh"
SIZE_MB=${SIZE_MB:-1024}
RUNTIME=${RUNTIME:-20}
DISK_MB=${DISK_MB:-$((SIZE_MB * 3 + 512 + RUNTIME * 1024))}
W=$(cd "$W" && pwd)
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
export CURATOR_NBD_PLUGIN=${CURATOR_NBD_PLUGIN:-$(dirname "$BIN")/../lib/nbdkit-curator-plugin.so}
for t in nbdkit fio jq; do command -v $t >/dev/null || { echo "bench_nbd: $t missing" >&2; exit 2; }; done
srv=""
stop() { [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null; srv=""; }
trap 'stop; rm -rf "$W"' EXIT
wait_sock() { for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.1; done; return 1; }

# fio JOB URI OUT: one job, JSON output
fio_job() {
	local job=$1 uri=$2 out=$3
	local common=(--name="$job" --ioengine=nbd --uri="$uri" --size="${SIZE_MB}M" --output-format=json --output="$out")
	case $job in
	seq_write_1m) fio "${common[@]}" --rw=write --bs=1M --iodepth=4 --end_fsync=1 --time_based --runtime="$RUNTIME" ;;
	randwrite_4k) fio "${common[@]}" --rw=randwrite --bs=4k --iodepth=16 --fsync=1000 --time_based --runtime="$RUNTIME" ;;
	randread_4k) fio "${common[@]}" --rw=randread --bs=4k --iodepth=16 --time_based --runtime="$RUNTIME" ;;
	esac
}
# the figure of a fio JSON result: throughput (MiB/s or IOPS) and p99 (ms)
thr() {
	case $1 in
	seq_write_1m) jq '.jobs[0].write.bw_bytes / 1048576' "$2" ;;
	randwrite_4k) jq '.jobs[0].write.iops' "$2" ;;
	randread_4k) jq '.jobs[0].read.iops' "$2" ;;
	esac
}
p99() {
	local rw=write
	[ "$1" = randread_4k ] && rw=read
	jq ".jobs[0].$rw.clat_ns.percentile[\"99.000000\"] / 1000000" "$2"
}
meta_bytes() { du -cb "$1"/meta-*.db* | tail -1 | cut -f1; }

# the baseline: nbdkit's file plugin on a raw file in the same directory
truncate -s "${SIZE_MB}M" "$W/raw.img"
nbdkit -f -U "$W/file.sock" file "$W/raw.img" 2>"$W/file.err" &
srv=$!
wait_sock "$W/file.sock"
for j in seq_write_1m randwrite_4k randread_4k; do
	sync
	fio_job $j "nbd+unix:///?socket=$W/file.sock" "$W/file.$j.json" >/dev/null
done
stop
rm -f "$W/raw.img"

results=()
for rf in 1 2; do
	rm -rf "$W/cl"
	sync
	c init --nodes 2 --disks "ssd:1x${DISK_MB}M" >/dev/null
	c container create c --rf $rf >/dev/null
	c vdisk create v --container c --size "${SIZE_MB}M" >/dev/null
	"$BIN" -C "$W/cl" serve --node 1 --socket "$W/cu.sock" --foreground 2>"$W/cu.err" &
	srv=$!
	wait_sock "$W/cu.sock"
	for j in seq_write_1m randwrite_4k randread_4k; do
		sync
		m0=$(meta_bytes "$W/cl")
		fio_job $j "nbd+unix:///v?socket=$W/cu.sock" "$W/cu$rf.$j.json" >/dev/null
		m1=$(meta_bytes "$W/cl")
		if [ $j = randwrite_4k ]; then
			wrote=$(jq '.jobs[0].write.io_bytes' "$W/cu$rf.$j.json")
			perg=$(awk -v a="$m0" -v b="$m1" -v w="$wrote" 'BEGIN { printf "%.0f", (b - a) * 1073741824 / w }')
			results+=("$(json "metadata_bytes_per_gib_randwrite_4k_rf$rf" "$perg" bytes "data bytes written" 1073741824 \
				"$(ratio 1073741824 "$perg")")")
		fi
	done
	stop
	for j in seq_write_1m randwrite_4k randread_4k; do
		unit=iops
		[ $j = seq_write_1m ] && unit=MiB/s
		a=$(thr $j "$W/cu$rf.$j.json"); b=$(thr $j "$W/file.$j.json")
		results+=("$(json "${j}_rf$rf" "$(printf %.1f "$a")" $unit "nbdkit file plugin" "$(printf %.1f "$b")" "$(ratio "$a" "$b")")")
		a=$(p99 $j "$W/cu$rf.$j.json"); b=$(p99 $j "$W/file.$j.json")
		results+=("$(json "${j}_p99_rf$rf" "$(printf %.3f "$a")" ms "nbdkit file plugin" "$(printf %.3f "$b")" "$(ratio "$b" "$a")")")
	done
done
printf '%s\n' "${results[@]}"
