#!/bin/bash
# The storage controller (`curator serve`, serve/sv_plugin.c) against real NBD clients
# nobody here wrote: qemu-img, qemu-io, nbdcopy, nbdinfo, nbdfuse + e2fsprogs, fio.
#
#   images   qemu-img convert of a 256 MiB raw image with holes in and nbdcopy out:
#            identical; nbdcopy both ways; nbdinfo --map and qemu-img map show the holes
#   durable  a flushed write survives kill -9 of the controller; an unflushed one sits
#            in the write-back log (not in the cluster) until then
#   fs       nbdfuse + mkfs.ext4 -d (real files); a snapshot taken while fio writes into
#            the vdisk; e2fsck -fn of the snapshot's export clean, debugfs rdump = files
#   daemon   fio --ioengine=nbd 4 KiB random and 1 MiB sequential writes, verify=crc32c,
#            while `mpiexec -n 2 curator daemon` scans and runs tasks with short intervals;
#            fsck clean after, stored bytes <= 1.2 x live x RF once scans and tasks ran
#   owner    ownership: fio writes through controller A; a write through B asks A to
#            relinquish, B owns within 2 s, fio's data verifies through B; kill -9 of the
#            owner: the other takes over after the TTL by CAS; an owner SIGSTOPped past the
#            TTL, then SIGCONT, refuses every further write and flush and commits nothing
#   bad      a write past the end, an unknown export, a write to a snapshot, a full
#            disk: clear errors, the controller stays up, flushed data kept
#
# usage: serve_clients.sh [quick|full] [CASE...]   (env: CURATOR_BIN, CURATOR_NBD_PLUGIN)
# quick (make test): the daemon case ~15 s of fio; full (make soak): 2 minutes.
# The last line: "serve cases: N run, N failed".
set -u
mode=${1:-quick}
shift || true
cases_wanted=${*:-images durable fs daemon owner bad}
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CURATOR_BIN:-$here/build/bin/curator}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
export CURATOR_NBD_PLUGIN=${CURATOR_NBD_PLUGIN:-$(dirname "$bin")/../lib/nbdkit-curator-plugin.so}
work=$(mktemp -d "${TMPDIR:-/tmp}/serve.XXXXXX")
export CURATOR_LOG=error
cd "$work" # fio leaves its state files in the working directory
pids=()
mounts=()
cleanup() {
	for m in "${mounts[@]}"; do fusermount3 -u "$m" 2>/dev/null; done
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
run=0; failed=0
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
cu() { "$bin" -C "$@"; }
for t in nbdkit nbdinfo nbdcopy nbdfuse qemu-img qemu-io fio mkfs.ext4 e2fsck debugfs fusermount3; do
	command -v "$t" >/dev/null || { echo "serve_clients: $t missing (tools/install-deps.sh)" >&2; exit 1; }
done

# serve DIR NODE SOCK [serve options]: start a controller in the foreground (background job),
# wait until it lists exports; its pid in $served
serve() {
	local d=$1 n=$2 s=$3
	shift 3
	# the binary itself, not the cu function (a subshell): $! is then nbdkit's pid (curator execs it)
	"$bin" -C "$d" serve --node "$n" --socket "$s" --foreground "$@" 2>>"$work/serve.err" &
	served=$!
	pids+=("$served")
	for _ in $(seq 100); do
		nbdinfo --list "nbd+unix:///?socket=$s" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "controller on $s did not come up: $(tail -3 "$work/serve.err")" >&2
	return 1
}
uri() { echo "nbd+unix:///$1?socket=$2"; }
cluster() { # DIR NODES DISKS RF
	cu "$1" init --nodes "$2" --disks "$3" >/dev/null && cu "$1" container create c --rf "$4" >/dev/null
}
fsck_clean() {
	local out
	out=$(cu "$1" fsck 2>&1) || { fail "$2: fsck: $out"; return 1; }
}

# --- images ---------------------------------------------------------------------
case_images() {
	local d=$work/img s=$work/img.sock img=$work/img.raw
	cluster "$d" 2 ssd:1x2G 2 && cu "$d" vdisk create v --container c --size 256M >/dev/null &&
		cu "$d" vdisk create w --container c --size 256M >/dev/null || { fail "images: setup"; return; }
	head -c 64M /dev/urandom > "$img"
	truncate -s 256M "$img"
	dd if=/dev/urandom of="$img" bs=1M seek=160 count=16 conv=notrunc status=none
	dd if=/dev/urandom of="$img" bs=4096 seek=$((200 * 256 + 3)) count=5 conv=notrunc status=none
	serve "$d" 1 "$s" || { fail "images: serve"; return; }
	qemu-img convert -n -f raw -O raw "$img" "$(uri v "$s")" || fail "images: qemu-img convert in"
	nbdcopy "$(uri v "$s")" "$work/out1.raw" || fail "images: nbdcopy out"
	cmp "$img" "$work/out1.raw" || fail "images: qemu-img convert in, nbdcopy out: differ"
	qemu-img convert -f raw -O raw "$(uri v "$s")" "$work/out2.raw" || fail "images: qemu-img convert out"
	cmp "$img" "$work/out2.raw" || fail "images: qemu-img convert out: differs"
	nbdcopy "$img" "$(uri w "$s")" || fail "images: nbdcopy in"
	nbdcopy "$(uri w "$s")" - | cmp - "$img" || fail "images: nbdcopy in and out: differ"
	# the holes: [64M, 160M) and from 176M on, but for the 20 KiB at 200M + 12 KiB
	nbdinfo --map "$(uri v "$s")" > "$work/map" || fail "images: nbdinfo --map"
	grep -Eq '^ *67108864 +100663296 +3 +hole,zero' "$work/map" ||
		fail "images: nbdinfo --map shows no hole at 64M..160M: $(cat "$work/map")"
	grep -Eq '^ *0 +67108864 +0 +data' "$work/map" || fail "images: nbdinfo --map: no data at 0..64M"
	[ "$(grep -c 'hole' "$work/map")" -ge 3 ] || fail "images: nbdinfo --map: too few holes: $(cat "$work/map")"
	qemu-img map -f raw --output=json "$(uri w "$s")" > "$work/qmap" || fail "images: qemu-img map"
	grep -q '"start": 67108864, "length": 100663296, "depth": 0, "present": true, "zero": true, "data": false' \
		"$work/qmap" || fail "images: qemu-img map shows no hole at 64M..160M: $(head -5 "$work/qmap")"
	kill "$served"; wait "$served" 2>/dev/null
	fsck_clean "$d" images
	cu "$d" vdisk read v --output "$work/out3.raw" && cmp "$img" "$work/out3.raw" ||
		fail "images: curator vdisk read after the controller stopped: differs"
	rm -f "$work"/out*.raw
}

# --- durable --------------------------------------------------------------------
case_durable() {
	local d=$work/dur s=$work/dur.sock z=$work/zero1m
	cluster "$d" 2 ssd:1x1G 2 && cu "$d" vdisk create v --container c --size 64M >/dev/null ||
		{ fail "durable: setup"; return; }
	head -c 1M /dev/zero > "$z"
	serve "$d" 1 "$s" --commit-ms 600000 || { fail "durable: serve"; return; }
	# a flushed write, then an unflushed one while the client stays connected
	qemu-io -t writeback -f raw -c 'write -P 0xaa 1M 1M' -c flush "$(uri v "$s")" >/dev/null || fail "durable: qemu-io write+flush"
	{ echo 'write -P 0xbb 8M 1M'; sleep 2; } | qemu-io -t writeback -f raw "$(uri v "$s")" >/dev/null &
	local client=$!
	sleep 1
	cu "$d" vdisk read v --offset 8M --length 1M | cmp - "$z" ||
		fail "durable: an unflushed write is in the cluster already (no write-back log?)"
	kill -9 "$served"
	wait "$client" 2>/dev/null
	wait "$served" 2>/dev/null
	head -c 1M /dev/zero | tr '\0' '\252' > "$work/aa"
	cu "$d" vdisk read v --offset 1M --length 1M | cmp - "$work/aa" || fail "durable: flushed write lost by kill -9"
	serve "$d" 1 "$s" || { fail "durable: serve again"; return; }
	qemu-io -f raw -r -c 'read -P 0xaa 1M 1M' "$(uri v "$s")" | grep -q 'read 1048576/1048576' ||
		fail "durable: the controller after kill -9 does not read the flushed write"
	# FUA: a write with FUA is durable by itself
	qemu-io -t writeback -f raw -c 'write -f -P 0xcc 3M 64k' "$(uri v "$s")" >/dev/null || fail "durable: qemu-io write FUA"
	kill -9 "$served"; wait "$served" 2>/dev/null
	head -c 64K /dev/zero | tr '\0' '\314' > "$work/cc"
	cu "$d" vdisk read v --offset 3M --length 64K | cmp - "$work/cc" || fail "durable: a FUA write lost by kill -9"
	fsck_clean "$d" durable
}

# --- fs ---------------------------------------------------------------------------
case_fs() {
	local d=$work/fs s=$work/fs.sock src=$work/src m1=$work/m1 m2=$work/m2 out=$work/rdump
	local docs_mb=24
	[ "$mode" = full ] && docs_mb=150
	cluster "$d" 2 ssd:1x2G 2 && cu "$d" vdisk create fs --container c --size 512M >/dev/null ||
		{ fail "fs: setup"; return; }
	# real files (symlinks resolved, dangling ones left out), up to docs_mb MiB
	mkdir -p "$src" "$m1" "$m2" "$out"
	for p in /usr/share/doc/*; do
		cp -rL "$p" "$src/" 2>/dev/null
		[ "$(du -sm "$src" | cut -f1)" -ge "$docs_mb" ] && break
	done
	[ "$(du -sm "$src" | cut -f1)" -ge 4 ] || { fail "fs: too few files copied from /usr/share/doc"; return; }
	serve "$d" 1 "$s" || { fail "fs: serve"; return; }
	nbdfuse "$m1/disk" "$(uri fs "$s")" &
	pids+=($!)
	mounts+=("$m1")
	for _ in $(seq 50); do [ -f "$m1/disk" ] && break; sleep 0.1; done
	mkfs.ext4 -q -F -d "$src" "$m1/disk" 256M || { fail "fs: mkfs.ext4 -d"; return; }
	sync "$m1/disk"
	# a snapshot while fio writes into the vdisk (past the file system)
	fio --name=w --ioengine=nbd --uri="$(uri fs "$s")" --rw=randwrite --bs=4k --offset=300M --size=200M \
		--time_based --runtime=5 --iodepth=8 --output="$work/fio.fs" &
	local f=$!
	pids+=($f)
	sleep 2
	cu "$d" vdisk snapshot fs fs@1 >/dev/null || fail "fs: snapshot while writing"
	wait "$f" || fail "fs: fio while the snapshot was taken: $(tail -3 "$work/fio.fs")"
	nbdfuse -r "$m2/disk" "$(uri fs@1 "$s")" &
	pids+=($!)
	mounts+=("$m2")
	for _ in $(seq 50); do [ -f "$m2/disk" ] && break; sleep 0.1; done
	e2fsck -fn "$m2/disk" > "$work/e2fsck" 2>&1 || fail "fs: e2fsck -fn of the snapshot: $(tail -3 "$work/e2fsck")"
	debugfs -R "rdump / $out" "$m2/disk" >/dev/null 2>&1
	rmdir "$out/lost+found" 2>/dev/null
	diff -r "$src" "$out" >/dev/null || fail "fs: the snapshot's files differ from the source's"
	e2fsck -fn "$m1/disk" > "$work/e2fsck1" 2>&1 || fail "fs: e2fsck -fn of the vdisk: $(tail -3 "$work/e2fsck1")"
	fusermount3 -u "$m2"; fusermount3 -u "$m1"
	mounts=()
	kill "$served"; wait "$served" 2>/dev/null
	fsck_clean "$d" fs
}

# --- daemon -----------------------------------------------------------------------
# stored: bytes the disks' files hold; live: bytes the vdisk maps (vdisk info: written)
stored_bytes() { du -sb "$1/disks" | cut -f1; }
live_bytes() { "$bin" -C "$1" vdisk info "$2" | sed -nE 's/^ *written .*\(([0-9]+) bytes\).*/\1/p'; }
case_daemon() {
	local d=$work/dmn s=$work/dmn.sock secs=7 disk=2G
	# a minute of 1 MiB overwrites at ~100 MiB/s makes garbage faster than scans every few
	# seconds take back (every deletion waits for two scans): room for the lag
	[ "$mode" = full ] && secs=60 disk=12G
	cluster "$d" 2 ssd:1x$disk 2 && cu "$d" vdisk create v --container c --size 256M >/dev/null ||
		{ fail "daemon: setup"; return; }
	serve "$d" 1 "$s" --commit-ms 500 || { fail "daemon: serve"; return; }
	mpiexec.mpich -n 2 "$bin" -C "$d" daemon --full-every 4s --partial-every 2s --tick 1 \
		>/dev/null 2>"$work/daemon.err" &
	local dm=$!
	pids+=($dm)
	fio --name=rand --ioengine=nbd --uri="$(uri v "$s")" --rw=randwrite --bs=4k --size=64M --iodepth=16 \
		--time_based --runtime=$secs --verify=crc32c --verify_backlog=1024 --verify_fatal=1 --verify_state_save=0 --output="$work/fio.rand" ||
		fail "daemon: fio 4k randwrite verify: $(grep -iE 'err|verify' "$work/fio.rand" | head -3)"
	fio --name=seq --ioengine=nbd --uri="$(uri v "$s")" --rw=write --bs=1M --offset=96M --size=128M --iodepth=4 \
		--time_based --runtime=$secs --verify=crc32c --verify_backlog=1024 --verify_fatal=1 --verify_state_save=0 --output="$work/fio.seq" ||
		fail "daemon: fio 1M seq write verify: $(grep -iE 'err|verify' "$work/fio.seq" | head -3)"
	grep -q 'err= 0' "$work/fio.rand" && grep -q 'err= 0' "$work/fio.seq" || fail "daemon: fio reported errors"
	kill "$served"; wait "$served" 2>/dev/null
	sleep 6 # the daemon's scans and tasks see the controller's last commit
	kill -TERM "$dm"; wait "$dm" 2>/dev/null
	cu "$d" status > "$work/status" 2>&1
	[ "${KEEP_STATUS:-}" ] && cat "$work/status" "$work/fio.rand" >&2
	cu "$d" report --last --format json > "$work/report.json" 2>/dev/null ||
		fail "daemon: no scan report: the daemon ran no scan while fio wrote"
	for _ in 1 2 3; do
		mpiexec.mpich -n 2 "$bin" -C "$d" scan full >/dev/null 2>&1
		mpiexec.mpich -n 2 "$bin" -C "$d" tasks run >/dev/null 2>&1
	done
	fsck_clean "$d" daemon
	local live stored
	live=$(live_bytes "$d" v)
	[ -n "$live" ] || { fail "daemon: no written bytes in vdisk info"; return; }
	stored=$(stored_bytes "$d")
	echo "daemon: live $live bytes, stored $stored bytes (RF 2)"
	[ "$stored" -le $((live * 2 * 12 / 10 + 8 * 1048576)) ] ||
		fail "daemon: stored $stored bytes > 1.2 x live $live x RF 2 after scans and tasks"
}

# --- owner ------------------------------------------------------------------------
# ms since the epoch
ms() { date +%s%3N; }
owner_node() { cu "$1" vdisk owner "$2" --format json | sed -nE 's/.*"owner":\{"holder":"[^"]*","node":([0-9]+).*/\1/p'; }
case_owner() {
	local d=$work/own sa=$work/own-a.sock sb=$work/own-b.sock a b t0 t1 out
	cluster "$d" 2 ssd:1x2G 2 && cu "$d" vdisk create v --container c --size 256M >/dev/null ||
		{ fail "owner: setup"; return; }
	serve "$d" 1 "$sa" --lease-ms 2000 --commit-ms 60000 || { fail "owner: serve A"; return; }
	a=$served
	serve "$d" 2 "$sb" --lease-ms 2000 --commit-ms 60000 || { fail "owner: serve B"; return; }
	b=$served
	# fio writes through A (A becomes the owner), then goes on writing while B asks for the vdisk
	fio --name=p --ioengine=nbd --uri="$(uri v "$sa")" --rw=write --bs=64k --size=32M --verify=crc32c \
		--do_verify=0 --output="$work/fio.p" >/dev/null || fail "owner: fio through A"
	[ "$(owner_node "$d" v)" = 1 ] || fail "owner: A (node 1) does not own the vdisk: $(cu "$d" vdisk owner v)"
	fio --name=r --ioengine=nbd --uri="$(uri v "$sa")" --rw=randwrite --bs=4k --offset=64M --size=64M \
		--time_based --runtime=6 --iodepth=8 --output="$work/fio.r" >/dev/null 2>&1 &
	local fr=$!
	pids+=($fr)
	sleep 1.5
	t0=$(ms)
	qemu-io -t writeback -f raw -c 'write -P 0x5a 200M 64k' -c flush "$(uri v "$sb")" >"$work/qb" 2>&1 ||
		fail "owner: write through B: $(cat "$work/qb")"
	t1=$(ms)
	echo "owner: migration A -> B took $((t1 - t0)) ms (a qemu-io write and flush through B)"
	[ $((t1 - t0)) -le 2500 ] || fail "owner: B took over in $((t1 - t0)) ms (> 2 s)"
	[ "$(owner_node "$d" v)" = 2 ] || fail "owner: B does not own the vdisk: $(cu "$d" vdisk owner v)"
	wait "$fr" # fio through A fails once the vdisk moved: its client moves to B
	fio --name=p --ioengine=nbd --uri="$(uri v "$sb")" --rw=write --bs=64k --size=32M --verify=crc32c \
		--verify_only --output="$work/fio.pv" >/dev/null || fail "owner: fio's data, written through A, does not verify through B"
	# kill -9 of the owner: A takes over after the TTL (2 s), by CAS
	kill -9 "$b"; wait "$b" 2>/dev/null
	t0=$(ms)
	qemu-io -t writeback -f raw -c 'write -P 0x6b 210M 64k' -c flush "$(uri v "$sa")" >"$work/qa" 2>&1 ||
		fail "owner: write through A after kill -9 of B: $(cat "$work/qa")"
	t1=$(ms)
	echo "owner: takeover after kill -9 of the owner took $((t1 - t0)) ms (lease TTL 2000 ms)"
	[ $((t1 - t0)) -ge 1900 ] || fail "owner: A took over before the TTL ($((t1 - t0)) ms)"
	[ $((t1 - t0)) -le 6000 ] || fail "owner: A took over late ($((t1 - t0)) ms)"
	[ "$(owner_node "$d" v)" = 1 ] || fail "owner: A does not own the vdisk after the takeover"
	qemu-io -f raw -r -c 'read -P 0x5a 200M 64k' "$(uri v "$sa")" | grep -q 'read 65536/65536' ||
		fail "owner: B's flushed write lost in the takeover"
	# the fenced owner: A, paused past the TTL with a write in its log, refuses everything after
	serve "$d" 2 "$sb" --lease-ms 2000 --commit-ms 60000 || { fail "owner: serve B again"; return; }
	b=$served
	{ echo 'write -P 0x11 230M 64k'; sleep 6; echo 'flush'; echo 'write -P 0x33 231M 4k'; echo 'flush'; } |
		qemu-io -t writeback -f raw "$(uri v "$sa")" >"$work/qfence" 2>&1 &
	local q=$!
	sleep 0.7
	kill -STOP "$a"
	qemu-io -t writeback -f raw -c 'write -P 0x22 230M 64k' -c flush "$(uri v "$sb")" >"$work/qb2" 2>&1 ||
		fail "owner: B could not take over from the stopped A: $(cat "$work/qb2")"
	cu "$d" vdisk owner v > "$work/owner.txt"
	grep -q '(node 2)' "$work/owner.txt" || fail "owner: B is not the owner: $(cat "$work/owner.txt")"
	kill -CONT "$a"
	wait "$q"
	# (qemu-io prints nothing for a failed flush: what the flush did is checked in the cluster below)
	grep -q 'write failed: Input/output error' "$work/qfence" ||
		fail "owner: the fenced A accepted a write: $(cat "$work/qfence")"
	head -c 64K /dev/zero | tr '\0' '\042' > "$work/p22"
	cu "$d" vdisk read v --offset 230M --length 64K | cmp - "$work/p22" || fail "owner: the fenced A committed its log"
	head -c 4K /dev/zero > "$work/z4"
	cu "$d" vdisk read v --offset 231M --length 4K | cmp - "$work/z4" || fail "owner: the fenced A committed a later write"
	cu "$d" vdisk owner v --format json | grep -q '"schema_version":1' || fail "owner: vdisk owner --format json"
	kill "$a" "$b"; wait "$a" "$b" 2>/dev/null
	fsck_clean "$d" owner
}

# --- bad --------------------------------------------------------------------------
case_bad() {
	local d=$work/bad s=$work/bad.sock out
	cluster "$d" 1 ssd:1x48M 1 && cu "$d" vdisk create v --container c --size 256M >/dev/null ||
		{ fail "bad: setup"; return; }
	head -c 8M /dev/urandom > "$work/r8"
	serve "$d" 1 "$s" || { fail "bad: serve"; return; }
	nbdcopy "$work/r8" "$(uri v "$s")" || fail "bad: the first 8 MiB"
	cu "$d" vdisk snapshot v v@1 >/dev/null || fail "bad: snapshot"
	# past the end
	out=$(qemu-io -f raw -c 'write 255M 2M' "$(uri v "$s")" 2>&1)
	echo "$out" | grep -qiE 'error|not permitted|out of range|No space|Input/output|Invalid' ||
		fail "bad: a write past the end was not refused: $out"
	# an unknown export
	out=$(nbdinfo "$(uri nope "$s")" 2>&1) && fail "bad: an unknown export opened"
	echo "$out" | grep -qiE 'no such vdisk|export|not found|unknown' || fail "bad: unknown export, unclear error: $out"
	# a write to a snapshot
	out=$(qemu-io -f raw -c 'write 0 4k' "$(uri v@1 "$s")" 2>&1)
	echo "$out" | grep -qiE 'read-only|not permitted|permission' || fail "bad: a write to a snapshot: $out"
	# a full disk (48 MiB, RF 1): a copy of 64 MiB fails with an error, flushed bytes stay
	head -c 64M /dev/urandom > "$work/r64"
	out=$(nbdcopy --flush "$work/r64" "$(uri v "$s")" 2>&1) && fail "bad: 64 MiB into a 48 MiB disk succeeded"
	echo "$out" | grep -qiE 'space|error' || fail "bad: full disk, unclear error: $out"
	nbdinfo --list "nbd+unix:///?socket=$s" >/dev/null 2>&1 || fail "bad: the controller went down"
	kill "$served"; wait "$served" 2>/dev/null
	cu "$d" vdisk read v@1 --length 8M | cmp - "$work/r8" || fail "bad: the snapshot's flushed bytes changed"
	out=$(cu "$d" fsck 2>&1) || fail "bad: fsck after a full disk: $out"
}

for c in $cases_wanted; do
	run=$((run + 1))
	before=$failed
	start=$(date +%s)
	"case_$c"
	echo "serve case $c: $([ $failed -eq $before ] && echo ok || echo FAILED) ($(( $(date +%s) - start )) s)"
done
echo "serve cases: $run run, $failed failed"
[ "$failed" -eq 0 ]
