# Shared helpers of the benchmark scripts (sourced, not run). Set BENCH (the
# "bench" field of the JSON lines) first; c/mc also want BIN, W and RANKS.
c() { "$BIN" -C "$W/cl" "$@"; }
mc() { mpiexec.mpich -n "$RANKS" "$BIN" -C "$W/cl" "$@"; }
now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
mbps() { awk -v by="$1" -v s="$2" 'BEGIN { printf "%.1f", by / 1048576 / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
json() { # figure value unit baseline baseline_value ratio
	printf '{"bench": "%s", "figure": "%s", "value": %s, "unit": "%s", "baseline": "%s", "baseline_value": %s, "ratio": %s}\n' \
		"$BENCH" "$@"
}
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; }
