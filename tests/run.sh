#!/bin/bash
# Run the Criterion test binaries given as arguments. Binaries named
# *_mpi run again under mpiexec -n 2 and -n 3. VALGRIND=1 runs each under
# valgrind (MPI-free suites only). Prints "N passed, N failed" at the end.
set -u
pass=0
fail=0
failed=()
export TMPDIR=${TMPDIR:-/tmp}
jobs=${TEST_JOBS:-2}
run_one() {
	local name=$1; shift
	echo "== $name"
	if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); failed+=("$name"); fi
}
for t in "$@"; do
	if [ "${VALGRIND:-0}" = 1 ]; then
		run_one "$t (valgrind)" valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
			--trace-children=no "$t" --jobs 1 --no-early-exit
		continue
	fi
	run_one "$t" "$t" --jobs "$jobs"
	case "$t" in
	*_mpi)
		for n in 2 3; do
			run_one "$t (mpiexec -n $n)" env CURATOR_MPI_RANKS=$n "$t" --jobs 1
		done ;;
	esac
done
echo
[ $fail -gt 0 ] && printf 'failed: %s\n' "${failed[@]}"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
