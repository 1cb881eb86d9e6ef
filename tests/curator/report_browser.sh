#!/bin/bash
# The HTML report as a person sees it: headless Chromium renders it (a
# screenshot that is not blank) and its DOM holds the figures: the scan's
# date, the health banner and its checks, the cloud tier, the per-disk table
# with a failed disk marked as an error, readable axis ticks. Counts as one
# test (tests/run.sh); the last line is "report: N passed, N failed".
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CURATOR_BIN:-$here/build/bin/curator}
work=$(mktemp -d "${TMPDIR:-/tmp}/report.XXXXXX")
trap 'rm -rf "$work"' EXIT
pass=0; fail=0
check() { # NAME COMMAND...
	local name=$1; shift
	if "$@" >"$work/check.log" 2>&1; then pass=$((pass + 1)); echo "ok   $name"
	else fail=$((fail + 1)); echo "FAIL $name"; tail -5 "$work/check.log" | sed 's/^/     /'; fi
}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "chromium is missing (tools/install-deps.sh)"; echo "report: 0 passed, 1 failed"; exit 1; }
c() { CURATOR_LOG=warn "$bin" -C "$work/c" "$@"; }
c init --nodes 3 --disks ssd:1x64M,hdd:1x64M >/dev/null
c container create gold --rf 2 >/dev/null
c vdisk create v --container gold --size 16M >/dev/null
head -c 12M /dev/urandom >"$work/data"
c vdisk write v "$work/data" >/dev/null
c scan full >/dev/null
c disk fail 1 >/dev/null
c scan partial >/dev/null
c report --format html --output "$work/r.html"
# an empty profile, no network, no GPU: the same in CI
run_browser() { timeout 90 "$browser" --headless=new --no-sandbox --disable-gpu --no-first-run --hide-scrollbars \
	--user-data-dir="$work/profile" --window-size=1280,1600 "$@" "file://$work/r.html" 2>>"$work/browser.log"; }
run_browser --screenshot="$work/r.png" >/dev/null
run_browser --dump-dom >"$work/dom.html"
check "chromium took a screenshot" test -s "$work/r.png"
check "the screenshot is not blank" python3 - "$work/r.png" <<'PY'
import sys, zlib, struct
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat = 8, b''
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    if kind == b'IDAT':
        idat += data[pos + 8:pos + 8 + n]
    pos += 12 + n
raw = zlib.decompress(idat)
varied = sum(1 for b in raw if b not in (0, 255))
assert len(set(raw)) > 50 and varied > len(raw) / 100, 'blank: %d distinct values, %d varied bytes' % (len(set(raw)), varied)
PY
dom=$work/dom.html
check "the scan's date" grep -Eq "started <time>$(date -u +%Y-%m-%d) [0-9:]{8} UTC</time>" "$dom"
check "the health banner" grep -Eq "<div class=\"banner warnb\" id=\"health\"><b>HEALTH_WARN</b>" "$dom"
check "the banner names DISK_FAILED" grep -q "DISK_FAILED: 1 disk has failed" "$dom"
check "the cloud tier" grep -q "Cloud tier: none configured" "$dom"
check "the per-disk table has every disk" sh -c "[ \$(grep -o '<tr><td>[0-9]*</td><td>[0-9]*</td><td>\(ssd\|hdd\)</td>' '$dom' | wc -l) -eq 6 ]"
check "the failed disk is an error, in colour" grep -q '<tr><td>1</td><td>1</td><td>ssd</td><td class="err">failed</td>' "$dom"
check "the axis ticks are short numbers" sh -c "! grep -Eq 'text-anchor=\"end\">[0-9.]+e[+-]' '$dom'"
check "the charts are there" sh -c "[ \$(grep -c '<svg' '$dom') -ge 4 ]"
echo "report: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
