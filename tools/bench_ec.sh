#!/bin/bash
# Benchmark: Reed-Solomon conversion. A 6-node RF2 container with RS(4,2)
# and SIZE_GB of vdisk data (default 1). Two days later (CURATOR_NOW) a full
# scan groups the cold egroups into strips; the ec_encode tasks (RANKS ranks,
# default 2) read one copy of each of the k egroups, verify it, compute the m
# parity members with ISA-L, write and fdatasync them, read them back, swap
# the metadata and drop the extra copies.
# Baseline, in the same run: for every group of k egroup files, dd them to
# /dev/null and write m parity-sized files with dd conv=fdatasync - the bare
# I/O of a conversion, no arithmetic, no checks. Both from a cold page cache
# when /proc/sys/vm/drop_caches is writable, else both warm.
# RUNS=N keeps each side's best of N, odd runs measuring dd first and even
# runs ours first. Prints JSON lines; ratio > 1: ours faster. Target: >= 0.6.
set -euo pipefail
SIZE_GB=${SIZE_GB:-1}
K=4 M=2
BENCH=ec
. "$(dirname "$0")/bench_lib.sh"
RANKS=${RANKS:-2}
cold=1; drop || cold=0
disk_gb=$((SIZE_GB + 1))
c init --nodes 6 --disks "hdd:1x${disk_gb}G" >/dev/null
c container create c --rf 2 --rs "$K,$M" --ec-delay 1d >/dev/null
c vdisk create v --container c --size "${SIZE_GB}G" >/dev/null
echo "writing ${SIZE_GB} GiB (RF2, RS($K,$M) after a day)" >&2
head -c $((SIZE_GB << 30)) /dev/urandom | tee >(sha256sum | cut -d' ' -f1 > "$W/sum") | c vdisk write v - >/dev/null
export CURATOR_NOW=$(($(date +%s) + 2 * 86400))
c scan full >/dev/null 2>&1
ntask=$(c tasks list --kind ec_encode | tail -n +2 | wc -l)
[ "$ntask" -gt 0 ] || { echo "the scan queued no ec_encode task" >&2; exit 1; }
# the files the baseline reads: one copy of each egroup, from a pristine copy of the cluster
cp -a "$W/cl" "$W/cl.0"
mapfile -t files < <(for f in "$W"/cl.0/disks/*/egroups/*.eg; do echo "$(basename "$f") $f"; done | sort -u -k1,1 | awk '{ print $2 }')
[ $(( ${#files[@]} / K )) -ge "$ntask" ] || { echo "fewer egroups than the strips need" >&2; exit 1; }
# baseline: k egroup files read, then m parity-sized files written and fdatasync'd, per strip
baseline_dd() {
	mkdir -p "$W/parity"
	drop
	t0=$(now)
	data=0
	for ((s = 0; s < ntask; s++)); do
		big=0
		for ((i = 0; i < K; i++)); do
			f=${files[s * K + i]}
			sz=$(stat -c %s "$f"); data=$((data + sz)); [ "$sz" -gt "$big" ] && big=$sz
			dd if="$f" of=/dev/null bs=1M status=none
		done
		for ((j = 0; j < M; j++)); do
			dd if=/dev/zero of="$W/parity/$s.$j" bs=$big count=1 conv=fdatasync status=none
		done
	done
	t1=$(now); dd_s=$(min "$dd_s" "$(sub "$t0" "$t1")")
	rm -rf "$W/parity"; sync
}
# ours: the queued ec_encode tasks, on a fresh copy of the cluster each run
convert() {
	rm -rf "$W/cl"; cp -a "$W/cl.0" "$W/cl"
	before=$(du -sb "$W/cl/disks" | awk '{ print $1 }')
	drop
	t0=$(now)
	mc tasks run --kind ec_encode >/dev/null
	t1=$(now); ec_s=$(min "$ec_s" "$(sub "$t0" "$t1")")
	after=$(du -sb "$W/cl/disks" | awk '{ print $1 }')
	done_n=$(c tasks list --kind ec_encode --state done | tail -n +2 | wc -l)
	[ "$done_n" = "$ntask" ] || { echo "only $done_n of $ntask conversions done" >&2; exit 1; }
}
RUNS=${RUNS:-1}
dd_s= ec_s=
for ((run = 1; run <= RUNS; run++)); do
	# both orders: this VM's disk favours whichever goes second
	if ((run % 2)); then baseline_dd; convert; else convert; baseline_dd; fi
done
[ "$(c vdisk read v | sha256sum | cut -d' ' -f1)" = "$(cat "$W/sum")" ] || { echo "the vdisk does not read back" >&2; exit 1; }
echo "converted $ntask strips ($data data bytes) in $ec_s s (dd: $dd_s s; cold cache: $cold); stored $before -> $after bytes" >&2
json "ec_conversion_throughput" "$(mbps "$data" "$ec_s")" MB/s "dd: read k egroups, write m parity files (fdatasync)" \
	"$(mbps "$data" "$dd_s")" "$(ratio "$dd_s" "$ec_s")"
json "ec_stored_bytes_ratio" "$(ratio "$after" "$before")" x "RF2 (1.0)" 1 "$(ratio "$before" "$after")"
