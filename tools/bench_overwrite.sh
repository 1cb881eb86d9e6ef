#!/bin/bash
# Benchmark: garbage inside extents (issue 19). A 3-node cluster, RF 2; a
# vdisk of SIZE_MB MiB (default 64, 1 MiB blocks) written sequentially with
# random bytes, then OVERWRITES (default 2000) random 4 KiB-aligned 4 KiB
# overwrites, one `vdisk write` each. Then up to CYCLES (default 4) cycles
# of `scan full --compact-pct COMPACT_PCT` (default 10) under mpiexec -n
# RANKS (default 2) and `tasks run`, stopping once the egroup files hold
# <= 1.1 x live x RF. Figures: the stored bytes (egroup files) at the end
# against live x RF (ratio = live x RF / stored: 1 is no overhead at all);
# against what whole-extent GC leaves (the stored bytes before the cycles:
# shadowed pieces of live extents stay for good; ratio > 1: ours is
# smaller); the cycles it took against the goal of 2. Every byte is read
# back and compared with the reference file, and fsck must pass.
# Prints JSON lines; ratio > 1: better than the baseline.
set -euo pipefail
SIZE_MB=${SIZE_MB:-64}
OVERWRITES=${OVERWRITES:-2000}
RANKS=${RANKS:-2}
CYCLES=${CYCLES:-4}
COMPACT_PCT=${COMPACT_PCT:-10}
BENCH=overwrite
. "$(dirname "$0")/bench_lib.sh"
log() { echo "$*" >&2; }
egroup_bytes() { find "$W/cl/disks" -path '*/egroups/*' -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }
export CURATOR_LEASE_TTL=${CURATOR_LEASE_TTL:-4s} # a short TTL: the cycles follow each other closely

head -c $((SIZE_MB << 20)) /dev/urandom > "$W/ref"
c init --nodes 3 --disks "ssd:1x$((SIZE_MB * 3 + 256))M" >/dev/null
c container create c --rf 2 >/dev/null
c vdisk create v --container c --size "${SIZE_MB}M" >/dev/null
c vdisk write v "$W/ref" >/dev/null
pieces=$((SIZE_MB * 256))
for i in $(seq "$OVERWRITES"); do
	p=$(( (RANDOM * 32768 + RANDOM) % pieces ))
	head -c 4096 /dev/urandom > "$W/piece"
	dd if="$W/piece" of="$W/ref" bs=4096 seek="$p" conv=notrunc status=none
	c vdisk write v --offset $((p * 4096)) "$W/piece" >/dev/null
done
live=$((SIZE_MB * 2 << 20))
goal=$((live * 11 / 10))
before=$(egroup_bytes)
log "after $OVERWRITES overwrites: $(mib "$before") MiB stored, live x RF $(mib "$live") MiB"
cycles=0
stored=$before
while [ "$cycles" -lt "$CYCLES" ] && { [ "$cycles" -eq 0 ] || [ "$stored" -gt "$goal" ]; }; do
	cycles=$((cycles + 1))
	mc scan full --compact-pct "$COMPACT_PCT" --sweep-grace 0s >/dev/null 2>&1
	c tasks run --sweep-grace 0s >/dev/null 2>&1
	stored=$(egroup_bytes)
	log "cycle $cycles: $(mib "$stored") MiB stored ($(ratio "$stored" "$live") x live x RF)"
done
c vdisk read v --output "$W/back" >/dev/null
cmp -s "$W/back" "$W/ref" || { log "read back differs from the reference"; exit 1; }
c fsck --quiet >/dev/null || { log "fsck failed"; exit 1; }
fig="overwrite_${SIZE_MB}MiB_${OVERWRITES}x4KiB_rf2"
json "${fig}_stored" "$(mib "$stored")" MiB "live x RF" "$(mib "$live")" "$(ratio "$live" "$stored")"
json "${fig}_stored_vs_whole_extent_gc" "$(mib "$stored")" MiB "stored before the cycles (whole-extent GC keeps it)" \
	"$(mib "$before")" "$(ratio "$before" "$stored")"
json "${fig}_cycles" "$cycles" cycles "goal: 2 cycles to <= 1.1 x live x RF" 2 "$(ratio 2 "$cycles")"
