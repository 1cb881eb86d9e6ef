#!/bin/bash
# A real S3-compatible server for tests and CI: a throwaway single-node Ceph RADOS Gateway on
# 127.0.0.1 (in-memory object store, no systemd, no cephx). Installs from Debian packages.
# usage: s3-test-server.sh install|start|stop|rgw-stop|rgw-start   (env: RGW_DIR, RGW_PORT, RGW_MON_PORT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET)
# (a copy of ../shared/tools/s3-test-server.sh, plus rgw-stop/rgw-start: the gateway alone, objects kept;
# RGW_MON_PORT: the monitor's port, so that several servers with their own RGW_DIR and ports can run at once)
set -euo pipefail
D=${RGW_DIR:-/tmp/rgw-ci}
PORT=${RGW_PORT:-7480}
MONP=${RGW_MON_PORT:-3300}
AK=${S3_ACCESS_KEY:-CIACCESSKEY}
SK=${S3_SECRET_KEY:-CISECRETKEY}
BUCKET=${S3_BUCKET:-testbkt}
export CEPH_CONF="$D/ceph.conf"

stop() {
  local pids="" p
  for n in client.rgw osd.0 mon.a; do
    [ -f "$D/run/$n.pid" ] && pids="$pids $(cat "$D/run/$n.pid")"
  done
  if [ -n "$pids" ]; then
    kill $pids 2>/dev/null || true
    for _ in $(seq 30); do
      alive=""; for p in $pids; do grep -qs "^State:\s*[^Z]" /proc/$p/status && alive="$alive $p"; done
      [ -z "$alive" ] && break; sleep 0.1
    done
    for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
  fi
  rm -rf "$D"
}

case "${1:-}" in
install)
  command -v radosgw >/dev/null && command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null && exit 0
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ceph-mon ceph-osd radosgw ceph-common python3 curl >/dev/null
  ;;
start)
  stop
  mkdir -p "$D"/{mon.a,osd.0,log,run}
  FSID=$(python3 -c 'import uuid; print(uuid.uuid4())')
  cat > "$CEPH_CONF" <<CONF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MONP
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
run dir = $D/run
admin socket = $D/run/\$name.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
keyring = $D/keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
paxos propose interval = 0.1
osd pool default pg autoscale mode = off
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
osd objectstore = memstore
memstore device bytes = 2147483648
osd data = $D/osd.\$id
mon data = $D/mon.\$id
[client.rgw]
ms mon client mode = crc
rgw frontends = beast endpoint=127.0.0.1:$PORT
CONF
  ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MONP]" "$D/monmap" >/dev/null
  ceph-mon --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring"
  ceph-mon -i a                                   # daemonizes, pid in $D/run/mon.a.pid
  OSD_UUID=$(python3 -c 'import uuid; print(uuid.uuid4())')
  ID=$(timeout 60 ceph osd new "$OSD_UUID")       # waits for the mon
  ceph-osd -i "$ID" --mkfs --osd-uuid "$OSD_UUID" 2>>"$D/log/osd-stderr.log"
  ceph-osd -i "$ID" 2>>"$D/log/osd-stderr.log"
  radosgw -n client.rgw                           # daemonizes at once; poll for HTTP below
  for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.2; done
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/" || { echo "rgw did not come up; see $D/log" >&2; exit 1; }
  radosgw-admin user create --uid=ci --display-name=ci --access-key="$AK" --secret-key="$SK" >/dev/null
  curl -sf -o /dev/null -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" \
       -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "http://127.0.0.1:$PORT/$BUCKET"
  echo "S3_ENDPOINT=http://127.0.0.1:$PORT S3_BUCKET=$BUCKET S3_ACCESS_KEY=$AK S3_SECRET_KEY=$SK S3_REGION=us-east-1"
  ;;
rgw-stop) # only the gateway: the objects stay in the OSD (for "server down" tests)
  if [ -f "$D/run/client.rgw.pid" ]; then
    p=$(cat "$D/run/client.rgw.pid")
    kill "$p" 2>/dev/null || true
    for _ in $(seq 100); do grep -qs "^State:\s*[^Z]" /proc/$p/status || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  fi
  ;;
rgw-start)
  radosgw -n client.rgw
  for _ in $(seq 300); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/" || { echo "rgw did not come back; see $D/log" >&2; exit 1; }
  ;;
stop) stop ;;
*) echo "usage: $0 install|start|stop|rgw-stop|rgw-start" >&2; exit 2 ;;
esac
