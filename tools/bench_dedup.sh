#!/bin/bash
# Benchmark: dedup. Two figures, each against its baseline in the same run.
#
# 1. Fingerprinting: SIZE_MB (default 256) of real files (/usr/lib,
#    /usr/share) in one vdisk of a --dedup post container; a full scan
#    queues fingerprint tasks, which read every extent through verified
#    replicas, cut it into 16 KiB chunks and store each chunk's SHA-1.
#    Baseline: the faster of `openssl dgst -sha1` and `sha1sum` over the
#    same bytes (raw SHA-1, page cache warm for both). Target >= 0.8.
# 2. Fixed 16 KiB chunks vs content-defined (Rabin) chunks on the same
#    "desktop images": IMAGES (default 4) vdisks, each the same real files
#    (IMAGE_MB each, default 64) in the same order but with a different
#    small file (1-20 KiB, random) in front of every 8th one, as installs
#    of one OS differ. Per chunking: dedup ratio (logical bytes / bytes
#    stored once the dedup tasks and the collection after them ran) and
#    the fingerprinting speed on those images.
# Prints JSON lines.
set -euo pipefail
SIZE_MB=${SIZE_MB:-256}
IMAGES=${IMAGES:-4}
IMAGE_MB=${IMAGE_MB:-64}
BENCH=dedup
. "$(dirname "$0")/bench_lib.sh"
real_files() { find /usr/lib/x86_64-linux-gnu /usr/share -type f -size +8k 2>/dev/null | LC_ALL=C sort; }

# --- 1. fingerprinting vs raw SHA-1
real_files | xargs -d '\n' cat 2>/dev/null | head -c $((SIZE_MB << 20)) > "$W/data" || true
bytes=$(stat -c %s "$W/data")
c init --nodes 3 --disks "ssd:1x$((SIZE_MB * 2 + 256))M" >/dev/null
c container create c --rf 2 --dedup post --chunking fixed >/dev/null
c vdisk create v --container c --size "$(( (bytes >> 20) + 1 ))M" >/dev/null
c vdisk write v "$W/data" >/dev/null
c scan full >/dev/null 2>&1
cp -a "$W/cl" "$W/cl.0"
RUNS=${RUNS:-1}
sha_s= fp_s=
for ((run = 1; run <= RUNS; run++)); do
	t0=$(now); openssl dgst -sha1 "$W/data" >/dev/null; t1=$(now); sha_s=$(min "$sha_s" "$(sub "$t0" "$t1")")
	t0=$(now); sha1sum "$W/data" >/dev/null; t1=$(now); sha_s=$(min "$sha_s" "$(sub "$t0" "$t1")")
	rm -rf "$W/cl"; cp -a "$W/cl.0" "$W/cl"
	t0=$(now); c tasks run --kind fingerprint >/dev/null; t1=$(now); fp_s=$(min "$fp_s" "$(sub "$t0" "$t1")")
done
n=$(c tasks list --kind fingerprint --state done | tail -n +2 | wc -l)
[ "$n" -gt 0 ] || { echo "no fingerprint task ran" >&2; exit 1; }
echo "fingerprinted $bytes bytes ($n egroups) in $fp_s s; raw SHA-1 $sha_s s" >&2
json fingerprint_throughput "$(mbps "$bytes" "$fp_s")" MB/s "raw SHA-1 (openssl dgst / sha1sum, faster)" \
	"$(mbps "$bytes" "$sha_s")" "$(ratio "$sha_s" "$fp_s")"

# --- 2. fixed vs content-defined chunks on desktop-like images
rm -rf "$W/cl" "$W/cl.0" "$W/data"
mapfile -t files < <(real_files | head -4000)
for ((i = 0; i < IMAGES; i++)); do
	k=0
	for f in "${files[@]}"; do
		if ((k % 8 == i % 8)); then head -c $((1024 + RANDOM % 20480)) /dev/urandom; fi
		cat "$f" 2>/dev/null || true
		k=$((k + 1))
	done 2>/dev/null | head -c $((IMAGE_MB << 20)) > "$W/img$i" || true
done
logical=$(cat "$W"/img* | wc -c)
for how in fixed cdc; do
	rm -rf "$W/cl"
	c init --nodes 3 --disks "ssd:1x$((IMAGES * IMAGE_MB * 2 + 512))M" >/dev/null
	c container create c --rf 2 --dedup post --chunking "$how" >/dev/null
	for ((i = 0; i < IMAGES; i++)); do
		c vdisk create "v$i" --container c --size "${IMAGE_MB}M" >/dev/null
		c vdisk write "v$i" "$W/img$i" >/dev/null
	done
	c scan full >/dev/null 2>&1
	t0=$(now); c tasks run --kind fingerprint >/dev/null; t1=$(now)
	secs=$(sub "$t0" "$t1")
	for r in 1 2 3 4; do c tasks run --sweep-grace 0s >/dev/null; c scan full --sweep-grace 0s >/dev/null 2>&1; done
	for ((i = 0; i < IMAGES; i++)); do
		cmp -s <(c vdisk read "v$i" --length "$(stat -c %s "$W/img$i")") "$W/img$i" ||
			{ echo "$how: vdisk v$i does not read back" >&2; exit 1; }
	done
	stored=$(c report --format json | jq -r '.counters.stored_bytes')
	echo "$how: $logical logical bytes stored in $stored bytes per copy; fingerprinted in $secs s" >&2
	json "dedup_ratio_$how" "$(ratio "$logical" "$stored")" x "no dedup (1.0)" 1 "$(ratio "$logical" "$stored")"
	json "fingerprint_throughput_$how" "$(mbps "$logical" "$secs")" MB/s "raw SHA-1" "$(mbps "$bytes" "$sha_s")" \
		"$(ratio "$(mbps "$logical" "$secs")" "$(mbps "$bytes" "$sha_s")")"
done
