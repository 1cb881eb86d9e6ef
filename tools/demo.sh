#!/bin/bash
# The demo: a 3-node cluster in ./demo-cluster with real bytes (files from
# /usr/share and /usr/lib), written, snapshotted, overwritten, read back and
# checked, fsck, two more images in a compressing and deduplicating
# container, cold data for the cloud tier (a local directory), full scans
# (MapReduce on 2 ranks) with their tasks (GC, compression, dedup, tiering),
# the scan report, and a summary.
set -euo pipefail
BIN=${CURATOR_BIN:-build/bin/curator}
D=${DEMO_DIR:-demo-cluster}
c() { "$BIN" -C "$D" "$@"; }
rm -rf "$D"
mkdir -p "$D.tmp"
trap 'rm -rf "$D.tmp"' EXIT
echo "== a cluster: 3 nodes, each with an SSD and two HDDs"
c init --nodes 3 --disks ssd:1x256M,hdd:2x1G
c container create gold --rf 2
c container create bronze --rf 1 --tiers hdd
echo "== real bytes: the first 96 MiB of a tar of /usr/share/doc and /usr/lib"
( set +o pipefail; tar -cf - -C /usr share/doc lib 2>/dev/null | head -c 96M > "$D.tmp/img" )
size=$(stat -c %s "$D.tmp/img")
c vdisk create desktop --container gold --size 128M
c vdisk write desktop "$D.tmp/img"
c vdisk snapshot desktop desktop@monday
echo "== overwrite 4 MiB in the middle, then clone the snapshot"
head -c 4M /dev/urandom > "$D.tmp/patch"
c vdisk write desktop --offset 40M "$D.tmp/patch"
c vdisk clone desktop@monday desktop-copy
c vdisk create scratch --container bronze --size 32M
head -c 20M "$D.tmp/img" | c vdisk write scratch -
echo "== read back and compare"
c vdisk read desktop@monday --length "$size" --output "$D.tmp/back"
cmp "$D.tmp/back" "$D.tmp/img" && echo "snapshot desktop@monday: $size bytes identical"
cp "$D.tmp/img" "$D.tmp/expect"
dd if="$D.tmp/patch" of="$D.tmp/expect" bs=1M seek=40 conv=notrunc status=none
c vdisk read desktop --length "$size" --output "$D.tmp/back"
cmp "$D.tmp/back" "$D.tmp/expect" && echo "vdisk desktop: $size bytes identical (with the overwrite)"
echo "== fsck"
c fsck --quiet
echo "== two more desktop images in a container that compresses (after 1 h) and dedups"
c container create silver --rf 2 --compress post:1h --dedup post
for v in img1 img2; do
	c vdisk create "$v" --container silver --size 64M
	head -c 48M "$D.tmp/img" | c vdisk write "$v" -
done
echo "== a cloud tier (a local directory here; s3://BUCKET@HOST:PORT in production) for cold data"
c cloud set "$D/cloud-objects"
c container create archive --rf 2 --tiers hdd,cloud --cold-age 1d
c vdisk create logs --container archive --size 32M
head -c 16M "$D.tmp/img" | c vdisk write logs -
echo "== delete the snapshot and the clone; two days later: full scans on 2 ranks, their tasks, the report"
c vdisk delete desktop-copy
c vdisk delete desktop@monday
export CURATOR_NOW=$(($(date +%s) + 2 * 86400))
for round in 1 2 3; do
	mpiexec.mpich -n 2 "$BIN" -C "$D" scan full > /dev/null
	mpiexec.mpich -n 2 "$BIN" -C "$D" tasks run > /dev/null
done
c scan full
c report --format html --output "$D/report.html"
echo "(HTML report with charts: $D/report.html)"
c fsck --quiet
c vdisk read desktop --length "$size" --output "$D.tmp/back"
cmp "$D.tmp/back" "$D.tmp/expect" && echo "vdisk desktop: still identical after garbage collection"
head -c 48M "$D.tmp/img" > "$D.tmp/img48"
for v in img1 img2; do
	c vdisk read "$v" --length 48M --output "$D.tmp/back"
	cmp "$D.tmp/back" "$D.tmp/img48" && echo "vdisk $v: identical after compression and dedup"
done
c vdisk read logs --length 16M --output "$D.tmp/back"
cmp "$D.tmp/back" <(head -c 16M "$D.tmp/img") && echo "vdisk logs: identical, read from the cloud tier ($(ls "$D/cloud-objects"/clusters/*/egroups | wc -l) objects)"
echo "== summary"
c container list
c vdisk list
c disk list
