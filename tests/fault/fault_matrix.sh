#!/bin/bash
# Fault injection over the real curator binary (tests/fault/fault_shim.c, LD_PRELOAD):
# the Nth write, fsync, rename, unlink or read under the cluster directory fails with
# EIO or ENOSPC, for N = 1, 2, ... until the command runs without the fault firing,
# across `vdisk write`, a full scan and `tasks run --kind K` for every kind a set of
# cluster states queues. Each case must end with exit 0, or a clear one-line error
# ("curator: ...") and a non-zero exit, never a crash; afterwards (no faults) every
# acknowledged byte reads back, and fsck is clean or made clean by scan + tasks.
#
# usage: fault_matrix.sh [quick|full]    (env: CURATOR_BIN, FAULT_SHIM, FAULT_KINDS, FAULT_OPS, FAULT_POINTS)
# quick (make test): a few kinds, N <= 4; full (make soak): every kind, N stepped
# 1..12 and then geometrically to the last call. The last line: "fault cases: N run, N failed".
set -u
mode=${1:-quick}
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CURATOR_BIN:-$here/build/bin/curator}
shim=${FAULT_SHIM:-$here/build/tests/fault/libfault.so}
work=$(mktemp -d "${TMPDIR:-/tmp}/fault.XXXXXX")
trap 'rm -rf "$work"' EXIT
cases=0; failed=0
export CURATOR_LOG=error
NOW=$(date +%s)

fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
cu() { "$bin" -C "$@"; }

# --- cluster states -----------------------------------------------------------
# Every state keeps, in $dir.expect/, the content every vdisk must read back.
put() { # dir vdisk offset file: write and record the expected content
	local d=$1 v=$2 off=$3 f=$4
	cu "$d" vdisk write "$v" --offset "$off" "$f" >/dev/null || return 1
	dd if="$f" of="$d.expect/$v" bs=1M seek=$((off / 1048576)) conv=notrunc status=none
}
mkvd() { # dir vdisk container size
	cu "$1" vdisk create "$2" --container "$3" --size "$4" >/dev/null || return 1
	truncate -s "$4" "$1.expect/$2"
}
data() { head -c "$2" /dev/urandom > "$1"; }

state_base() { # 4 nodes, an RF2 container, an RS(2,1) container, a post-process compress+dedup one
	local d=$1
	mkdir -p "$d.expect"
	cu "$d" init --nodes 4 --disks ssd:1x256M,hdd:2x512M >/dev/null &&
	cu "$d" container create r2 --rf 2 >/dev/null &&
	cu "$d" container create ec --rf 2 --rs 2,1 --ec-delay 1h >/dev/null &&
	cu "$d" container create z --rf 2 --compress post:1h --dedup post >/dev/null &&
	mkvd "$d" a r2 16M && mkvd "$d" b r2 8M && mkvd "$d" e ec 12M && mkvd "$d" z z 8M || return 1
	data "$work/r16" 16M; data "$work/r8" 8M; data "$work/r4" 4M; data "$work/r12" 12M
	put "$d" a 0 "$work/r16" && put "$d" b 0 "$work/r8" && put "$d" e 0 "$work/r12" || return 1
	# text for compression and dedup: the same 2 MiB twice
	find /usr/share/doc -type f -name '*.gz' -prune -o -type f -print 2>/dev/null | head -400 |
		xargs cat 2>/dev/null | head -c 2M > "$work/t2"
	cat "$work/t2" "$work/t2" > "$work/t4"
	put "$d" z 0 "$work/t4"
}

state_gc() { # overwrites, a snapshot, a deleted vdisk: GC, refcount, compaction; aged: EC, compression, dedup, scrub
	local d=$1
	state_base "$d" || return 1
	cu "$d" vdisk snapshot a a@s1 >/dev/null && cp "$d.expect/a" "$d.expect/a@s1"
	put "$d" a 4194304 "$work/r4" && put "$d" a 12582912 "$work/r4" || return 1
	cu "$d" vdisk delete b >/dev/null && rm -f "$d.expect/b"
	mkdir -p "$d/disks/1/zz"; : # an orphan file for the sweep
	local disk1; disk1=$(ls -d "$d"/disks/*/ | head -1)
	head -c 65536 /dev/urandom > "${disk1}0000000000000000deadbeef.eg" 2>/dev/null || true
	CURATOR_NOW=$((NOW + 8 * 86400)) cu "$d" scan full --sweep-grace 0s >/dev/null
}

state_protect() { # a failed disk: rereplication, EC rebuild
	local d=$1
	state_base "$d" || return 1
	cu "$d" disk fail 1 >/dev/null
	cu "$d" scan full >/dev/null
}

# --- one case -----------------------------------------------------------------
# check DIR: every vdisk reads back what its expect file holds (vdisks of an
# unfinished write may hold old or new bytes per MiB: given as $2 = vdisk, $3 = new file, $4 = offset)
check_data() {
	local d=$1 v f
	for f in "$d.expect"/*; do
		v=$(basename "$f")
		cu "$d" vdisk read "$v" --output "$work/got" 2>"$work/rerr" || { echo "read $v: $(cat "$work/rerr")"; return 1; }
		if [ "$v" = "${2:-}" ]; then # each MiB of the written range is old or new
			local n=$(( $(stat -c %s "$3") / 1048576 )) i
			for i in $(seq 0 $((n - 1))); do
				cmp -s <(dd if="$work/got" bs=1M skip=$(( $4 / 1048576 + i )) count=1 status=none) \
					<(dd if="$f" bs=1M skip=$(( $4 / 1048576 + i )) count=1 status=none) && continue
				cmp -s <(dd if="$work/got" bs=1M skip=$(( $4 / 1048576 + i )) count=1 status=none) \
					<(dd if="$3" bs=1M skip="$i" count=1 status=none) && continue
				echo "vdisk $v MiB $(( $4 / 1048576 + i )): neither the old nor the new bytes"; return 1
			done
			cmp -s <(head -c "$4" "$work/got") <(head -c "$4" "$f") || { echo "vdisk $v: bytes before the write changed"; return 1; }
			continue
		fi
		cmp -s "$work/got" "$f" || { echo "vdisk $v: wrong bytes"; return 1; }
	done
}

check_fsck() { # clean, or clean after scan + tasks (twice)
	local d=$1 i
	for i in 1 2 3; do
		cu "$d" fsck --quiet >/dev/null 2>&1 && return 0
		CURATOR_NOW=$((NOW + 8 * 86400)) cu "$d" scan full --sweep-grace 0s >/dev/null 2>&1
		CURATOR_NOW=$((NOW + 8 * 86400)) cu "$d" tasks run --sweep-grace 0s >/dev/null 2>&1
	done
	cu "$d" fsck >"$work/fsck" 2>&1 || { echo "fsck after scans: $(tail -2 "$work/fsck" | tr '\n' ' ')"; return 1; }
}

# run_case NAME TEMPLATE OP ERRNO N CMD...: 0 = the fault fired, 1 = it did not (N past the last call)
run_case() {
	local name=$1 tpl=$2 op=$3 eno=$4 n=$5; shift 5
	local d=$work/case rc lines
	rm -rf "$d" "$d.expect" "$work/log"
	cp -a "$tpl" "$d" && cp -a "$tpl.expect" "$d.expect"
	CURATOR_FAULT_DIR=$d CURATOR_FAULT_OP=$op CURATOR_FAULT_N=$n CURATOR_FAULT_ERRNO=$eno \
		CURATOR_FAULT_STICKY=$([ "$eno" = ENOSPC ] && echo 1 || echo 0) CURATOR_FAULT_LOG=$work/log \
		CURATOR_DIR=$d LD_PRELOAD=$shim "$@" >"$work/out" 2>"$work/err" </dev/null
	rc=$?
	grep -q 'fired=1' "$work/log" 2>/dev/null || return 1
	cases=$((cases + 1))
	local what="$name $op#$n $eno"
	[ -n "${FAULT_VERBOSE:-}" ] && echo "case $what: exit $rc: $(head -1 "$work/err")" >&2
	[ -n "${FAULT_KEEP_ERR:-}" ] && cp "$work/err" "$FAULT_KEEP_ERR.$cases"
	if [ "$rc" -ge 128 ]; then fail "$what: killed by signal $((rc - 128))"; return 0; fi
	if [ "$rc" -ne 0 ]; then
		lines=$(grep -vc '^$' "$work/err")
		if [ "$lines" -ne 1 ] || ! grep -q '^curator: ' "$work/err"; then
			fail "$what: exit $rc with $lines lines on stderr: $(head -3 "$work/err" | tr '\n' '|')"
		elif grep -qE '([^ ]+): \1:|: $|\(\)$' "$work/err"; then # a reason lost or formatted into itself
			fail "$what: the error lost its reason: $(cat "$work/err")"
		fi
	fi
	local msg
	if [ -n "${WRITE_V:-}" ] && [ "$rc" -ne 0 ]; then
		msg=$(check_data "$d" "$WRITE_V" "$WRITE_F" "$WRITE_OFF") || { fail "$what: $msg"; return 0; }
	else
		[ "$rc" -eq 0 ] && [ -n "${WRITE_V:-}" ] &&
			dd if="$WRITE_F" of="$d.expect/$WRITE_V" bs=1M seek=$((WRITE_OFF / 1048576)) conv=notrunc status=none
		msg=$(check_data "$d") || { fail "$what (exit $rc): $msg"; return 0; }
	fi
	msg=$(check_fsck "$d") || { fail "$what (exit $rc): $msg"; return 0; }
	if [ -n "${WRITE_V:-}" ] && [ "$rc" -ne 0 ]; then
		msg=$(check_data "$d" "$WRITE_V" "$WRITE_F" "$WRITE_OFF")
	else
		msg=$(check_data "$d")
	fi || { fail "$what (exit $rc), after the repair scans: $msg"; return 0; }
	return 0
}

# count TEMPLATE OP CMD...: how many calls of OP the command makes (no fault)
count() {
	local tpl=$1 op=$2; shift 2
	local d=$work/case
	rm -rf "$d" "$d.expect" "$work/log"
	cp -a "$tpl" "$d" && cp -a "$tpl.expect" "$d.expect"
	CURATOR_FAULT_DIR=$d CURATOR_FAULT_OP=$op CURATOR_FAULT_N=0 CURATOR_FAULT_LOG=$work/log \
		CURATOR_DIR=$d LD_PRELOAD=$shim "$@" >/dev/null 2>&1 </dev/null
	awk '{sub("calls=", "", $3); t += $3} END {print t + 0}' "$work/log" 2>/dev/null || echo 0
}

# points TOTAL: the N to try: quick, 3 spread over 1..TOTAL; full, every N up to FAULT_POINTS
# (default 150), else FAULT_POINTS spread
points() {
	local total=$1 want i
	want=$([ "$mode" = quick ] && echo 3 || echo "${FAULT_POINTS:-150}")
	if [ "$total" -le "$want" ]; then seq 1 "$total"; return; fi
	for i in $(seq 0 $((want - 1))); do echo $((1 + i * (total - 1) / (want - 1))); done | uniq
}

# step NAME TEMPLATE CMD...: every op and errno, N over the command's calls
step() {
	local name=$1 tpl=$2; shift 2
	local op eno n total
	for op in ${FAULT_OPS:-write fsync rename unlink read}; do
		total=$(count "$tpl" "$op" "$@")
		for eno in EIO ENOSPC; do
			case $op in write|fsync) ;; *) [ "$eno" = ENOSPC ] && continue ;; esac
			[ "$mode" = quick ] && [ "$eno" = ENOSPC ] && [ "$op" != write ] && continue
			[ "$mode" = quick ] && [ "$op" = unlink ] && [ "$name" != "tasks run --kind egroup_delete" ] && continue
			for n in $(points "$total"); do
				run_case "$name" "$tpl" "$op" "$eno" "$n" "$@"
			done
		done
	done
}

# --- the matrix ---------------------------------------------------------------
T=$work/tpl-gc
state_gc "$T" >/dev/null 2>&1 || { echo "fault_matrix: could not build the GC state" >&2; exit 2; }
P=$work/tpl-protect
state_protect "$P" >/dev/null 2>&1 || { echo "fault_matrix: could not build the protection state" >&2; exit 2; }

data "$work/w6" 6M
WRITE_V=a WRITE_F=$work/w6 WRITE_OFF=2097152 step "vdisk write" "$T" "$bin" vdisk write a --offset 2M "$work/w6"
unset WRITE_V
step "scan full" "$T" env CURATOR_NOW=$((NOW + 8 * 86400)) "$bin" scan full --sweep-grace 0s

kinds_of() { cu "$1" tasks list 2>/dev/null | awk 'NR > 1 {print $3}' | sort -u; }
if [ -n "${FAULT_KINDS:-}" ]; then gk=$FAULT_KINDS; pk=$FAULT_KINDS
elif [ "$mode" = quick ]; then gk="egroup_delete"; pk="rereplicate"
else gk=$(kinds_of "$T"); pk=$(kinds_of "$P"); fi
for k in $gk; do
	kinds_of "$T" | grep -qx "$k" || continue
	step "tasks run --kind $k" "$T" env CURATOR_NOW=$((NOW + 8 * 86400)) "$bin" tasks run --kind "$k" --sweep-grace 0s
done
for k in $pk; do
	kinds_of "$P" | grep -qx "$k" || continue
	step "tasks run --kind $k (disk failed)" "$P" "$bin" tasks run --kind "$k"
done
echo "fault cases: $cases run, $failed failed"
[ "$failed" -eq 0 ] && [ "$cases" -gt 0 ]
