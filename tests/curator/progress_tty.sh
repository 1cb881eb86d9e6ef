#!/bin/bash
# Progress as a person sees it, in a real terminal (tmux on a private server,
# read with capture-pane): a full scan shows a bar whose records move within
# the phase and whose ETA counts down, run directly and under mpiexec -n 2
# (rank 0 draws on mpiexec's terminal), and ends with its done line; tasks
# run shows tasks and bytes; vdisk write shows bytes written and committed.
# Without a terminal, progress is timestamped lines on the real clock (not
# CURATOR_NOW). Counts as one test (tests/run.sh); the last line is
# "progress: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CURATOR_BIN:-$here/build/bin/curator}
gen=$(dirname "$bin")/../tools/gen_cluster
work=$(mktemp -d "${TMPDIR:-/tmp}/progress.XXXXXX")
sock="curator-progress-$$"
tm() { tmux -L "$sock" "$@"; }
trap 'tm kill-server 2>/dev/null; rm -rf "$work"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; [ -f "$work/screens" ] && tail -5 "$work/screens" | sed 's/^/     /'; }

command -v tmux >/dev/null || { echo "tmux is missing (tools/install-deps.sh)"; echo "progress: 0 passed, 1 failed"; exit 1; }
"$gen" "$work/c" --extents 200000 --deleted 0 >/dev/null || { echo "gen_cluster failed"; exit 1; }
tm new-session -d -s t -x 160 -y 30 "env PS1='$ ' bash --norc --noprofile"
sleep 0.5

# run CMD in the terminal; capture its last non-empty line every 0.5 s into
# $work/screens until the shell prompt is back (at most $2 seconds)
watch_run() {
	local cmd=$1 secs=$2 t=0
	: >"$work/screens"
	tm send-keys -t t "clear; $cmd; echo __DONE__" Enter
	while [ $t -lt $((secs * 2)) ]; do
		sleep 0.5
		t=$((t + 1))
		tm capture-pane -p -t t | grep -v '^$' | grep -v '__DONE__$' | tail -1 >>"$work/screens"
		tm capture-pane -p -t t | grep -qx '__DONE__' && break
	done
	tm capture-pane -p -t t -S -50 >"$work/final"
}

# the bar's records (as numbers) and ETAs (seconds) in the order seen
records() { grep ' 1/3 MR1 ' "$work/screens" | sed -n 's/.* \([0-9.]*k\{0,1\}\) of ~[0-9.]*k\{0,1\} records.*/\1/p' |
	awk '{ v = $1; if (v ~ /k$/) v = substr(v, 1, length(v) - 1) * 1000; print v }' | uniq; }
etas() { grep ' 1/3 MR1 ' "$work/screens" | sed -n 's/.*ETA \([0-9]*\):\([0-9][0-9]\)$/\1 \2/p' | awk '{ print $1 * 60 + $2 }'; }

check_scan() { # what
	local what=$1
	if grep -Eq '^\[[#.]{24}\] +[0-9]+% scan full 1/3 MR1 extent references' "$work/screens"; then ok "$what: a bar for phase 1/3"
	else bad "$what: no bar for phase 1/3"; fi
	if [ "$(records | sort -n | uniq | wc -l)" -ge 3 ] && [ "$(records | head -1)" -lt "$(records | tail -1)" ]; then
		ok "$what: the records move within the phase ($(records | tr '\n' ' '))"
	else bad "$what: the records do not move ($(records | tr '\n' ' '))"; fi
	if etas | awk 'NR > 1 && $1 < prev { down = 1 } { prev = $1 } END { exit !down }'; then
		ok "$what: the ETA counts down ($(etas | uniq | tr '\n' ' '))"
	else bad "$what: the ETA never went down ($(etas | uniq | tr '\n' ' '))"; fi
	if grep -Eq '^scan full: scan [0-9]+ done \([0-9]+ s\)' "$work/final"; then ok "$what: the done line stays"
	else bad "$what: no done line"; fi
}

# a first scan, so that the next ones have the last scan's records to go by
CURATOR_LOG=warn "$bin" -C "$work/c" scan full --dry-run >/dev/null
watch_run "CURATOR_SCAN_POLL_DELAY_US=15000 '$bin' -C '$work/c' scan full --dry-run >/dev/null" 90
check_scan "scan full"
watch_run "CURATOR_SCAN_POLL_DELAY_US=30000 mpiexec.mpich -n 2 '$bin' -C '$work/c' scan full --dry-run >/dev/null" 90
check_scan "mpiexec -n 2 scan full"

# vdisk write from a slow pipe: bytes written and committed
"$bin" -C "$work/c" vdisk create pv --container "$("$bin" -C "$work/c" container list --format json | jq -r '.containers[0].name')" --size 128M >/dev/null
watch_run "for i in 1 2 3 4 5 6; do head -c 8M /dev/urandom; sleep 0.7; done | '$bin' -C '$work/c' vdisk write pv - >/dev/null" 30
if grep -Eq 'vdisk write +[1-9][0-9.]* MiB written, [0-9.]+ [KMG]?i?B committed' "$work/screens"; then ok "vdisk write: bytes written and committed"
else bad "vdisk write: no bytes shown"; fi
if grep -q 'vdisk write pv: all written' "$work/final"; then ok "vdisk write: the done line"; else bad "vdisk write: no done line"; fi

# tasks run, throttled: tasks and bytes
"$gen" "$work/d" --extents 50000 --deleted 100 >/dev/null
CURATOR_LOG=warn "$bin" -C "$work/d" scan full >/dev/null
watch_run "timeout -s INT 5 '$bin' -C '$work/d' tasks run --rate 20 >/dev/null" 15
if grep -Eq '% tasks run +[0-9]+ of [0-9]+ tasks, [0-9.]+ [KMG]?i?B of [0-9.]+ [KMG]?i?B' "$work/screens" &&
	[ "$(sed -n 's/.*tasks run *\([0-9]*\) of.*/\1/p' "$work/screens" | sort -n | uniq | wc -l)" -ge 2 ]; then
	ok "tasks run: tasks and bytes move"
else bad "tasks run: no moving task count"; fi

# no terminal: timestamped lines, on the real clock even with CURATOR_NOW
CURATOR_NOW=1000000000 CURATOR_PROGRESS_SECS=1 CURATOR_SCAN_POLL_DELAY_US=10000 \
	"$bin" -C "$work/c" scan full --dry-run >/dev/null 2>"$work/log" </dev/null
today=$(date -u +%Y-%m-%d)
if grep -Eq "^${today}T[0-9:]{8}Z info: scan full 1/3 MR1 extent references: [0-9]+%, " "$work/log" &&
	! grep -q '^2001-' "$work/log" && ! grep -q $'\r' "$work/log"; then
	ok "no terminal: timestamped lines on the real clock"
else fail=$((fail + 1)); echo "FAIL no terminal: $(head -3 "$work/log")"; fi

echo "progress: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
