#!/bin/bash
# Benchmark: data protection. A 3-node RF2 cluster with SIZE_GB of vdisk data
# (default 6: every disk then holds about 4 GiB of replicas).
#   - re-replication: disk 1 fails; a partial scan and its tasks (RANKS ranks,
#     default 2) copy what it
#     held elsewhere. Throughput = bytes copied / task time, against `cp` of
#     the same egroup files plus `sync` (our copies are fdatasync'd).
#   - time to full protection: from the failure to every egroup at RF again.
#   - scrub: every replica read and verified (tasks of kind scrub), against
#     a raw read (`cat`) of the same files; both from a cold page cache when
#     /proc/sys/vm/drop_caches is writable, else both warm.
# RUNS=N (default 1) repeats the measurements on copies of the cluster and
# keeps the best time of each side; odd runs measure the baseline first, even
# runs ours first (this VM's disk favours whichever goes second). Prints JSON lines; ratio > 1: ours faster.
set -euo pipefail
SIZE_GB=${SIZE_GB:-6}
BENCH=protect
. "$(dirname "$0")/bench_lib.sh"
RANKS=${RANKS:-2}
cold=1; drop || cold=0
disk_gb=$((SIZE_GB + 2)) # two nodes must hold every egroup once disk 1 fails
c init --nodes 3 --disks "hdd:1x${disk_gb}G" >/dev/null
c container create c --rf 2 >/dev/null
c vdisk create v --container c --size "${SIZE_GB}G" >/dev/null
echo "writing ${SIZE_GB} GiB (RF2)" >&2
head -c $((SIZE_GB << 30)) /dev/urandom | c vdisk write v - >/dev/null
d1=$(ls -d "$W"/cl/disks/node1-*)
bytes=$(du -sb "$d1/egroups" | awk '{ print $1 }')
RUNS=${RUNS:-1}
# baseline: cp of the failed disk's files, made durable
baseline_cp() {
	drop
	t0=$(now); cp -r "$d1/egroups" "$W/cp-copy"; sync; t1=$(now)
	cp_s=$(min "$cp_s" "$(sub "$t0" "$t1")"); rm -rf "$W/cp-copy"; sync
}
# ours: fail the disk, scan, re-replicate (t0..t2: failure to full protection)
rereplicate() {
	drop
	t0=$(now)
	c disk fail 1 >/dev/null
	c scan partial >/dev/null 2>&1
	t1=$(now)
	mc tasks run --kind rereplicate >/dev/null
	t2=$(now)
	c scan partial >/dev/null 2>&1
	under=$(c report --format json | jq '.counters.under_replicated')
	[ "$under" = 0 ] || { echo "still $under under-replicated egroups" >&2; exit 1; }
	task_s=$(min "$task_s" "$(sub "$t1" "$t2")"); full_s=$(min "$full_s" "$(sub "$t0" "$t2")")
}
raw_read() { drop; t0=$(now); cat $files > /dev/null; t1=$(now); raw_s=$(min "$raw_s" "$(sub "$t0" "$t1")"); }
scrub() { drop; t0=$(now); mc tasks run --kind scrub >/dev/null; t1=$(now); scrub_s=$(min "$scrub_s" "$(sub "$t0" "$t1")"); }
[ "$RUNS" -gt 1 ] && cp -a "$W/cl" "$W/cl.0"
cp_s= task_s= full_s= raw_s= scrub_s=
for ((run = 1; run <= RUNS; run++)); do
	if [ "$run" -gt 1 ]; then rm -rf "$W/cl"; cp -a "$W/cl.0" "$W/cl"; fi
	# both orders (odd runs cp first, even runs ours first): the VM's disk favours whoever goes second
	if ((run % 2)); then baseline_cp; rereplicate; else rereplicate; baseline_cp; fi
	# scrub vs a raw read of the same files (every replica on the live disks)
	files=$(ls "$W"/cl/disks/node2-*/egroups/*.eg "$W"/cl/disks/node3-*/egroups/*.eg)
	all=$(cat $files | wc -c)
	c scan partial --scrub-period 0s >/dev/null 2>&1
	if ((run % 2)); then raw_read; scrub; else scrub; raw_read; fi
done
echo "re-replicated $bytes bytes in $task_s s (cp + sync: $cp_s s); full protection after $full_s s (best of $RUNS)" >&2
echo "scrubbed $all bytes in $scrub_s s (raw read: $raw_s s; cold cache: $cold)" >&2
json "rereplicate_throughput" "$(mbps "$bytes" "$task_s")" MB/s "cp + sync of the same egroup files" \
	"$(mbps "$bytes" "$cp_s")" "$(ratio "$cp_s" "$task_s")"
json "time_to_full_protection_$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1073741824 }')GiB_disk" "$full_s" s \
	"re-replication alone" "$task_s" "$(ratio "$task_s" "$full_s")"
json "scrub_throughput" "$(mbps "$all" "$scrub_s")" MB/s "cat of the same files" "$(mbps "$all" "$raw_s")" \
	"$(ratio "$raw_s" "$scrub_s")"
