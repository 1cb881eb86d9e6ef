#!/bin/bash
# The systemd units of dist/ as make install writes them (@BINDIR@ the built
# binary's directory), checked without a running systemd: `systemd-analyze
# verify` (directives, the binaries they run, the man page they name when
# man can find build/curator.8), `systemd-analyze security --offline=yes`
# under 5 for every service, the daemon and the timer in Conflicts= both
# ways, the timer's OnCalendar= a calendar spec that elapses. Controls show
# the checks can fail: an unknown directive or an unparsable value is not
# clean (verify only warns of them, so clean means no output at all), a
# missing binary fails verify, the daemon's unit stripped of its hardening
# scores 5 or more.
# Counts as one test (tests/run.sh): exit 77 with one line when
# systemd-analyze is absent (apt package systemd); the last line is
# "units: N passed, N failed".
set -u
command -v systemd-analyze >/dev/null || { echo "skipped: systemd-analyze is missing (apt-get install systemd)"; exit 77; }
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CURATOR_BIN:-$here/build/bin/curator}
work=$(mktemp -d "${TMPDIR:-/tmp}/units.XXXXXX")
trap 'rm -rf "$work"' EXIT
pass=0; fail=0
check() { # NAME COMMAND...
	local name=$1; shift
	if "$@" >"$work/check.log" 2>&1; then pass=$((pass + 1)); echo "ok   $name"
	else fail=$((fail + 1)); echo "FAIL $name"; tail -5 "$work/check.log" | sed 's/^/     /'; fi
}
bindir=$(cd "$(dirname "$bin")" && pwd)
mkdir "$work/u"
for u in curator.service curator-scan.service curator-scan.timer curator-serve@.service; do
	sed "s|@BINDIR@|$bindir|g" "$here/dist/$u" >"$work/u/$u"
done
# the man page the units name (Documentation=man:curator(8)), where man can look for it
man=--man=no
if command -v man >/dev/null && [ -f "$here/build/curator.8" ]; then
	mkdir -p "$work/man/man8" && cp "$here/build/curator.8" "$work/man/man8/"
	export MANPATH=$work/man man=--man=yes
fi
cd "$work/u"
# verify exits 0 on an unknown or unparsable directive (it only warns): clean means exit 0 and not a word
verify_clean() { local out; out=$(systemd-analyze verify "$@" 2>&1) && [ -z "$out" ] || { echo "$out"; return 1; }; }
for u in curator.service curator-scan.service curator-scan.timer curator-serve@.service; do
	check "systemd-analyze verify $man $u: clean" verify_clean "$man" "./$u"
done
# the exposure score, "1.3" (empty when systemd-analyze prints none)
score() { systemd-analyze security --offline=yes --no-pager "./$1" 2>/dev/null |
	sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'; }
below5() { awk -v s="$1" 'BEGIN { exit !(s != "" && s < 5) }'; }
for u in curator.service curator-scan.service curator-serve@.service; do
	s=$(score "$u")
	check "$u: exposure $s below 5" below5 "$s"
done
check "curator.service conflicts with curator-scan.timer" grep -qx 'Conflicts=curator-scan.timer' curator.service
check "curator-scan.timer conflicts with curator.service" grep -qx 'Conflicts=curator.service' curator-scan.timer
cal=$(sed -n 's/^OnCalendar=//p' curator-scan.timer)
check "curator-scan.timer OnCalendar='$cal' elapses" sh -c "[ -n '$cal' ] && systemd-analyze calendar '$cal' | grep -q 'Next elapse:'"
# the controls: the checks above can fail
sed 's/^\[Service\]$/[Service]\nFrobnicate=yes/' curator.service >bad.service
not_clean() { ! verify_clean "$@"; }
check "control: a unit with an unknown directive is not clean" not_clean --man=no ./bad.service
sed 's/^ProtectSystem=strict$/ProtectSystem=stric/' curator.service >bad2.service
check "control: a unit with an unparsable value is not clean" not_clean --man=no ./bad2.service
sed "s|^ExecStart=.*|ExecStart=$work/no-such-binary daemon|" curator.service >bad3.service
check "control: a unit whose binary is missing fails verify" sh -c "! systemd-analyze verify --man=no ./bad3.service"
grep -Ev '^(NoNewPrivileges|Protect|Private|Restrict|LockPersonality|MemoryDeny|RemoveIPC|KeyringMode|DevicePolicy|CapabilityBoundingSet|AmbientCapabilities|SystemCall|UMask)' \
	curator.service >open.service
s=$(score open.service)
check "control: the daemon's unit without its hardening scores $s, not below 5" sh -c "[ -n '$s' ] && ! awk -v s='$s' 'BEGIN { exit !(s < 5) }'"
echo "units: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
