#!/bin/bash
# The CLI's error paths, data-driven (tests/curator/cli_errors.tab): every
# command of CLI.md run into its errors (bad arguments, a missing, empty or
# corrupt cluster, unknown ids) must exit 2 with exactly one line on stderr,
# "curator: ...", never a crash; under make asan a sanitizer report (or a
# leak) breaks the one line and fails the case. The last line:
# "cli error cases: N run, N failed".
#
# usage: cli_errors.sh [quick|full]   (env: CURATOR_BIN; the mode is ignored: every case runs)
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CURATOR_BIN:-$here/build/bin/curator}
tab=$here/tests/curator/cli_errors.tab
work=$(mktemp -d "${TMPDIR:-/tmp}/clierr.XXXXXX")
trap 'rm -rf "$work"' EXIT
export CURATOR_LOG=warn
unset CURATOR_DIR
cases=0; failed=0
cd "$work" || exit 1 # a relative path a case names lands here

# the states (built once; a case that could change one runs on a fresh copy)
mkdir -p "$work/empty"
"$bin" -C "$work/ok" init --nodes 3 --disks hdd:1x256M >/dev/null &&
"$bin" -C "$work/ok" container create c --rf 2 >/dev/null &&
"$bin" -C "$work/ok" vdisk create v --container c --size 4M >/dev/null &&
head -c 1M /dev/urandom | "$bin" -C "$work/ok" vdisk write v - >/dev/null &&
"$bin" -C "$work/ok" vdisk snapshot v v@s >/dev/null || { echo "cannot build the ok state" >&2; exit 1; }
cp -a "$work/ok" "$work/corrupt"
for f in config.db curator.db; do
	head -c 8192 /dev/urandom > "$work/corrupt/$f"
done
rm -f "$work/corrupt"/*-wal "$work/corrupt"/*-shm
cp -a "$work/ok" "$work/badmeta"
for f in "$work/badmeta"/meta-*.db; do
	head -c 8192 /dev/urandom > "$f"
done
rm -f "$work/badmeta"/*-wal "$work/badmeta"/*-shm

n=0
while read -r state rest; do
	case "$state" in ''|'#'*) continue ;; esac
	n=$((n + 1))
	case "$state" in
	none) dir=$work/none-$n ;;
	empty) dir=$work/empty ;;
	corrupt|badmeta|ok) dir=$work/case-$n; rm -rf "$dir"; cp -a "$work/$state" "$dir" ;;
	*) echo "cli_errors.tab: unknown state '$state'" >&2; exit 1 ;;
	esac
	args=${rest//@DIR@/$dir}
	cases=$((cases + 1))
	# shellcheck disable=SC2086 # words split on blanks, as the table says
	timeout 30 "$bin" -C "$dir" $args </dev/null >"$work/out" 2>"$work/err"
	rc=$?
	lines=$(wc -l < "$work/err")
	if [ "$rc" -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -q '^curator: ' "$work/err"; then
		failed=$((failed + 1))
		echo "FAIL: [$state] curator $rest: exit $rc, $lines line(s) on stderr:" >&2
		head -5 "$work/err" | sed 's/^/    /' >&2
	fi
	case "$state" in corrupt|badmeta|ok) rm -rf "$dir" ;; esac
done < "$tab"
echo "cli error cases: $cases run, $failed failed"
[ "$failed" -eq 0 ]
