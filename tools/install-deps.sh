#!/bin/bash
# Install, from Debian's apt repositories, whatever build and test
# dependencies are missing. Idempotent; needs root (or sudo).
set -euo pipefail
pkgs=(build-essential pkg-config mpich libmpich-dev libsqlite3-dev sqlite3 libisal-dev libssl-dev
      zlib1g-dev libcriterion-dev libcurl4-openssl-dev libexpat1-dev libjansson-dev jq time tmux
      debhelper fakeroot dpkg-dev
      prometheus chromium isal clang
      nbdkit nbdkit-plugin-dev libnbd-bin qemu-utils fio e2fsprogs fuse3
      iproute2 util-linux
      systemd man-db)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}" >&2
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# the S3-compatible server the cloud tier's tests run against (Ceph RGW, Debian packages)
$SUDO "$(dirname "$0")/s3-test-server.sh" install
