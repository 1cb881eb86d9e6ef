#!/bin/bash
# Run the Criterion test binaries given as arguments and sum their results.
# MPI tests start their own `mpiexec -n 2/3` runs. VALGRIND=1 runs each
# binary under valgrind (MPI-free suites only). The last line is
# "N passed, N failed".
set -u
export TMPDIR=${TMPDIR:-/tmp}
jobs=${TEST_JOBS:-2}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
pass=0; fail=0; bad=()
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
for t in "$@"; do
	if [ "${VALGRIND:-0}" = 1 ]; then
		run_one "$t (valgrind)" valgrind -q --error-exitcode=99 --leak-check=full \
			--errors-for-leak-kinds=definite "$t" --jobs 1
		continue
	fi
	case "$t" in
	*/tests/mapreduce/* | */tests/jobs/* | */tests/curator/test_service)
		# MPICH dlopens UCX modules and unloads them at exit, so LeakSanitizer
		# cannot attribute their start-up allocations: no leak check for MPI runs
		# (the MPI-free suites keep it, and run under valgrind too)
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 run_one "$t" "$t" --jobs "$jobs" ;;
	*) run_one "$t" "$t" --jobs "$jobs" ;;
	esac
done
echo
[ ${#bad[@]} -gt 0 ] && printf 'failed: %s\n' "${bad[@]}"
echo "$pass passed, $fail failed"
[ ${#bad[@]} -eq 0 ]
