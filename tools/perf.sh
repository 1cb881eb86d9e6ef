#!/bin/bash
# make perf: every benchmark; the JSON lines are collected in build/perf.jsonl.
set -euo pipefail
out=${PERF_OUT:-build/perf.jsonl}
: > "$out"
for b in tools/bench_vdisk_io.sh tools/bench_mr.sh build/tools/bench_keys tools/bench_scan.sh tools/bench_queue.sh tools/bench_reclaim.sh tools/bench_partial.sh tools/bench_overwrite.sh tools/bench_protect.sh tools/bench_ec.sh tools/bench_compress.sh tools/bench_dedup.sh tools/bench_cloud.sh tools/bench_nbd.sh tools/bench_hosts.sh; do
	echo "== $b" >&2
	"$b" | tee -a "$out"
done
