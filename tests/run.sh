#!/bin/bash
# Run the Criterion test binaries given as arguments and sum their results.
# MPI tests start their own `mpiexec -n 2/3` runs. VALGRIND=1 runs each
# binary under valgrind (MPI-free suites only). The last line is
# "N passed, N failed, N skipped" (a shell test that exits 77 is skipped).
set -u
export TMPDIR=${TMPDIR:-/tmp}
jobs=${TEST_JOBS:-2}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
pass=0; fail=0; skipped=0; bad=(); skip_names=()
# the cloud tier's tests want a real S3 server: start the throwaway one
# (tools/s3-test-server.sh) unless S3_ENDPOINT already names one
if [ -z "${S3_ENDPOINT:-}" ]; then
	here=$(cd "$(dirname "$0")/.." && pwd)
	# a directory and ports of this run's own: test runs side by side do not stop each other's server
	ports=$(python3 -c 'import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
	export RGW_DIR=${RGW_DIR:-$(mktemp -d -u "$TMPDIR/rgw.XXXXXX")}
	export RGW_PORT=${RGW_PORT:-${ports% *}} RGW_MON_PORT=${RGW_MON_PORT:-${ports#* }}
	if env=$("$here/tools/s3-test-server.sh" start 2>"$log"); then
		eval "export $(echo "$env" | tail -1)"
		trap 'rm -f "$log"; "$here/tools/s3-test-server.sh" stop' EXIT
	else
		echo "warning: could not start the S3 test server (the cloud tests will fail): $(tail -1 "$log")" >&2
	fi
fi
run_one() {
	local name=$1; shift
	echo "== $name"
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local line t p
	line=$(grep -a "Synthesis: Tested:" "$log" | tail -1)
	if [ -n "$line" ]; then
		t=$(echo "$line" | sed -E 's/.*Tested: ([0-9]+).*/\1/')
		p=$(echo "$line" | sed -E 's/.*Passing: ([0-9]+).*/\1/')
		pass=$((pass + p)); fail=$((fail + t - p))
	fi
	if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
		bad+=("$name")
		[ -z "$line" ] && fail=$((fail + 1))
	fi
}
# a shell test (tests/fault/*.sh, tests/hosts/*.sh) counts as one test: its exit status, 77 = skipped
# (the script said why in one line: e.g. no network namespaces without root)
run_script() {
	echo "== $1"
	# (under ASan the shim is preloaded ahead of the sanitizer's runtime)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 "$1" quick
	case $? in
	0) pass=$((pass + 1)) ;;
	77) skipped=$((skipped + 1)); skip_names+=("$1") ;;
	*) fail=$((fail + 1)); bad+=("$1") ;;
	esac
}
# a fuzz replay (tests/fuzz/replay.c) counts as one test: every seed and known crash of its harness
run_replay() {
	local name=${1##*/replay_} src=${CURATOR_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
	echo "== $1"
	if "$1" "$src/tests/fuzz/corpus/$name" "$src/tests/fuzz/crashes/$name"; then pass=$((pass + 1)); else fail=$((fail + 1)); bad+=("$1"); fi
}
for t in "$@"; do
	case "$t" in *.sh) run_script "$t"; continue ;; */tests/fuzz/replay_*) run_replay "$t"; continue ;; esac
	if [ "${VALGRIND:-0}" = 1 ]; then
		run_one "$t (valgrind)" valgrind -q --error-exitcode=99 --leak-check=full \
			--errors-for-leak-kinds=definite "$t" --jobs 1
		continue
	fi
	case "$t" in
	*/tests/mapreduce/* | */tests/jobs/* | */tests/curator/test_service | */tests/curator/test_health)
		# MPICH dlopens UCX modules and unloads them at exit, so LeakSanitizer
		# cannot attribute their start-up allocations: no leak check for MPI runs
		# (the MPI-free suites keep it, and run under valgrind too)
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 run_one "$t" "$t" --jobs "$jobs" ;;
	*) run_one "$t" "$t" --jobs "$jobs" ;;
	esac
done
echo
[ ${#bad[@]} -gt 0 ] && printf 'failed: %s\n' "${bad[@]}"
[ ${#skip_names[@]} -gt 0 ] && printf 'skipped: %s\n' "${skip_names[@]}"
echo "$pass passed, $fail failed, $skipped skipped"
[ ${#bad[@]} -eq 0 ]
