#!/bin/bash
# Build the Debian package in a copy of the tree (dpkg-buildpackage -b -us -uc
# writes beside the source, so never in the checkout), check what the .deb
# holds, and run its curator --version from the unpacked package. With
# CI=true (CI's machine, root) the .deb is also installed with apt-get, the
# installed curator --version and man page checked, and the package purged.
# Prints "N passed, N failed" last; exit 0 when all passed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/curator-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
pass=0; fail=0
check() { # check NAME COMMAND...
	local name=$1; shift
	if "$@" >"$work/check.log" 2>&1; then pass=$((pass + 1)); echo "ok   $name"
	else fail=$((fail + 1)); echo "FAIL $name"; sed 's/^/     /' "$work/check.log" | tail -20; fi
}
mkdir "$work/src"
# the tracked files as they are in the work tree (uncommitted edits included), without build output
(cd "$here" && git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf -) | tar -C "$work/src" -xf -
echo "building the package in $work/src" >&2
if (cd "$work/src" && dpkg-buildpackage -b -us -uc >"$work/build.log" 2>&1); then
	pass=$((pass + 1)); echo "ok   dpkg-buildpackage -b -us -uc"
else
	fail=$((fail + 1)); echo "FAIL dpkg-buildpackage -b -us -uc"; tail -30 "$work/build.log"
	echo "$pass passed, $fail failed"; exit 1
fi
deb=$(ls "$work"/curator_*.deb | head -1)
dpkg-deb -c "$deb" >"$work/contents"
for f in ./usr/bin/curator ./usr/share/man/man8/curator.8.gz ./usr/share/bash-completion/completions/curator \
	./lib/systemd/system/curator.service ./lib/systemd/system/curator-scan.service \
	./lib/systemd/system/curator-scan.timer ./lib/systemd/system/curator-serve@.service \
	./usr/lib/sysusers.d/curator.conf ./etc/default/curator; do
	check "the package holds $f" grep -q " $f\$" "$work/contents"
done
check "/etc/default/curator is a conffile" sh -c "dpkg-deb -e '$deb' '$work/ctl' && grep -qx /etc/default/curator '$work/ctl/conffiles'"
dpkg-deb -x "$deb" "$work/root"
check "its curator --version runs" sh -c "'$work/root/usr/bin/curator' --version | grep -q '^curator 0\.'"
check "its units name its binary" grep -q 'ExecStart=.* /usr/bin/curator daemon' "$work/root/lib/systemd/system/curator.service"
if command -v systemd-analyze >/dev/null; then
	check "systemd-analyze verify" systemd-analyze verify --man=no "$work/root/lib/systemd/system/curator.service" \
		"$work/root/lib/systemd/system/curator-scan.service" "$work/root/lib/systemd/system/curator-scan.timer"
	for u in curator.service curator-scan.service curator-serve@.service; do
		score=$(systemd-analyze security --offline=true "$work/root/lib/systemd/system/$u" 2>/dev/null |
			sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
		echo "     systemd-analyze security $u: $score"
		check "$u exposure below 5 ($score)" awk -v s="$score" 'BEGIN { exit !(s != "" && s < 5) }'
	done
fi
if [ "${CI:-}" = true ] && [ "$(id -u)" -eq 0 ]; then
	check "apt-get install the .deb" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb"
	check "the installed curator --version runs" sh -c '/usr/bin/curator --version | grep -q "^curator 0\."'
	check "man curator finds curator(8)" sh -c 'man -w curator | grep -q curator.8'
	check "the user curator exists" getent passwd curator
	check "apt-get purge curator" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq curator
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
