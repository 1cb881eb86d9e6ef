# Shared helpers of the benchmark scripts (sourced, not run). Set BENCH (the
# "bench" field of the JSON lines) first. Sourcing it sets BIN (CURATOR_BIN or
# the build's curator) and W, a fresh work directory BENCH_DIR/BENCH removed
# at exit; c/mc also want RANKS.
BIN=${CURATOR_BIN:-build/bin/curator}
W=${BENCH_DIR:-bench-tmp}/$BENCH
rm -rf "$W"; mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
c() { "$BIN" -C "$W/cl" "$@"; }
mc() { mpiexec.mpich -n "$RANKS" "$BIN" -C "$W/cl" "$@"; }
now() { date +%s.%N; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; } # "" is no value yet
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
mbps() { awk -v by="$1" -v s="$2" 'BEGIN { printf "%.1f", by / 1048576 / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
json() { # figure value unit baseline baseline_value ratio
	printf '{"bench": "%s", "figure": "%s", "value": %s, "unit": "%s", "baseline": "%s", "baseline_value": %s, "ratio": %s}\n' \
		"$BENCH" "$@"
}
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; }
