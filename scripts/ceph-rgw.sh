#!/usr/bin/env bash
# A throwaway single-node Ceph with a RADOS Gateway on loopback, for tests and benchmarks.
#
#   scripts/ceph-rgw.sh start DIR   one mon, one memstore OSD (no disks), RGW on 127.0.0.1; writes
#                                   DIR/rgw.env (ENDPOINT, ACCESS_KEY, SECRET_KEY, REGION) and DIR/pids
#   scripts/ceph-rgw.sh stop DIR    SIGKILLs the daemons listed in DIR/pids and removes DIR
#
# Needs Debian's ceph-mon, ceph-osd and radosgw (Pacific 16.2 on bookworm):
#   apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw
# Ports: RGW_PORT / MON_PORT (default: free ports picked by the kernel). Memory: the OSD keeps
# objects in RAM, up to MEMSTORE_BYTES (default 8 GiB; only what is stored is used).
#
# Measured gotchas this script works around (Pacific on this machine):
# - with `auth ... = none`, radosgw hangs at start unless `ms mon client mode = crc`;
# - pools created lazily by RGW cost ~2 s each: its 7 pools are created up front, in parallel, 8 PGs
#   each (and `mon max pg per osd` is raised so 56 PGs fit on one OSD);
# - the beast frontend stalls ~40 ms per response without `tcp_nodelay=1`;
# - everything binds to 127.0.0.1 (public and cluster addr), nothing listens beyond loopback;
# - `mon data avail warn/crit` are lowered so a nearly full disk does not stop the mon;
# - SIGKILL is the fastest teardown (nothing on disk is worth flushing).
set -Eeuo pipefail

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

stop() {
  if [ -f "$dir/pids" ]; then
    while read -r pid; do
      [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    done <"$dir/pids"
  fi
  rm -rf "$dir"
}

start() {
  for bin in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool; do
    command -v "$bin" >/dev/null || { echo "ceph-rgw: $bin not found; install: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw" >&2; exit 3; }
  done
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/pids" ]; then echo "ceph-rgw: $dir already holds a cluster (stop it first)" >&2; exit 1; fi
  : >"$dir/pids"
  # A failed start leaves no daemons behind.
  trap 'echo "ceph-rgw: start failed; logs in $dir/log" >&2; tail -n 20 "$dir"/log/*.log >&2 2>/dev/null || true; stop; exit 1' ERR

  local mon_port=${MON_PORT:-$(free_port)}
  local rgw_port=${RGW_PORT:-$(free_port)}
  local fsid
  fsid=$(uuidgen)
  mkdir -p "$dir/mon.a" "$dir/osd.0" "$dir/rgw" "$dir/run" "$dir/log"
  cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
keyring = /dev/null
mon data avail warn = 1
mon data avail crit = 0
mon max pg per osd = 1000
mon allow pool delete = true
mon warn on pool no redundancy = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = ${MEMSTORE_BYTES:-8589934592}
[client]
# Short-lived clients (ceph, radosgw-admin) run in parallel: one admin socket each.
admin socket = $dir/run/\$name.\$pid.asok
[mon.a]
mon data = $dir/mon.a
[osd.0]
osd data = $dir/osd.0
[client.rgw.a]
admin socket = $dir/run/\$name.asok
rgw data = $dir/rgw
rgw frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw dns name = 127.0.0.1
rgw enable usage log = false
# Deleted objects (staged uploads after their copy) give their RAM back soon, not after 2 h.
rgw gc obj min wait = 5
rgw gc processor period = 5
EOF
  local conf=(-c "$dir/ceph.conf")

  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  ceph-mon "${conf[@]}" --mkfs -i a --monmap "$dir/monmap" >/dev/null
  ceph-mon "${conf[@]}" -f -i a >/dev/null 2>&1 &
  echo $! >>"$dir/pids"

  local osd_id osd_uuid
  osd_uuid=$(uuidgen)
  osd_id=$(ceph "${conf[@]}" osd new "$osd_uuid")
  [ "$osd_id" = 0 ] || { echo "ceph-rgw: unexpected OSD id $osd_id" >&2; false; }
  ceph-osd "${conf[@]}" -i 0 --mkfs --osd-uuid "$osd_uuid" >/dev/null 2>&1
  ceph-osd "${conf[@]}" -f -i 0 >/dev/null 2>&1 &
  echo $! >>"$dir/pids"

  local pools=(.rgw.root default.rgw.control default.rgw.meta default.rgw.log default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec)
  local waits=()
  for pool in "${pools[@]}"; do
    (ceph "${conf[@]}" osd pool create "$pool" 8 8 >/dev/null 2>&1 && ceph "${conf[@]}" osd pool application enable "$pool" rgw >/dev/null 2>&1) &
    waits+=($!)
  done
  for pid in "${waits[@]}"; do wait "$pid"; done

  radosgw "${conf[@]}" -f -n client.rgw.a >/dev/null 2>&1 &
  echo $! >>"$dir/pids"

  local access secret
  access=$(head -c 10 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
  secret=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
  radosgw-admin "${conf[@]}" -n client.rgw.a user create --uid=artifactstore --display-name=artifactstore --access-key="$access" --secret="$secret" >/dev/null 2>&1

  local endpoint="http://127.0.0.1:$rgw_port"
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null "$endpoint/"; then break; fi
    sleep 0.1
  done
  curl -s -o /dev/null "$endpoint/"
  umask 077
  cat >"$dir/rgw.env" <<EOF
ENDPOINT=$endpoint
ACCESS_KEY=$access
SECRET_KEY=$secret
REGION=default
EOF
  trap - ERR
  echo "$dir/rgw.env"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
