#!/usr/bin/env bash
# `make e2e-topology`: the OpenStack template with two compute nodes and the branch's own
# Nova inside. Checks, and times:
#   - both compute nodes registered (the gates), a server on each, the second pinging the
#     first over the tenant network (L2 across the two hypervisors' uplinks);
#   - a copy of the packaged Nova with a visible change (a response header) mounted with
#     nova_src is what the API runs; a second change goes live with `vstage sync`, the
#     nodes not rebooted (same boot_id);
#   - `vstage down` leaves nothing.
#
#   RELEASE=zed   the release (zed or epoxy; its Nova from ci/nova-tree.sh)
#   TOPO_OUT      where logs go (default: a new directory under /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
vstage=${VSTAGE:-$PWD/target/release/vstage}
release=${RELEASE:-zed}
out=${TOPO_OUT:-$(mktemp -d /tmp/vstage-topology.XXXXXX)}
export VSTAGE_HOME=${VSTAGE_HOME:-$out/home}
env=topo-$release
mkdir -p "$out"
say() { printf '%s %s\n' "$(date +%T)" "$*"; }
fail() { say "FAILED: $*"; exit 1; }
t() { date +%s.%N; }
took() { printf '%.1f s' "$(echo "$(t) - $1" | bc)"; }

# 1. The branch: the packaged Nova of the image, its header changed.
src=$out/nova-src
VSTAGE=$vstage bash ci/nova-tree.sh fetch "$release" "$src"
mark() { bash ci/nova-tree.sh mark "$src" "$1"; }
mark change-1

# 2. Up, two compute nodes.
start=$(t)
"$vstage" up -t openstack --set "release=$release" --set computes=2 --set "nova_src=$src" \
  --name "$env" --ttl 3h 2>&1 | tee "$out/up.log"
say "up: $(took "$start")"
# On the way out, whatever happened: the services' logs of every node, then down.
keep_logs() {
  for n in controller compute-1 compute-2; do
    "$vstage" exec "$env" --node "$n" -- sh -c \
      'for f in /var/log/nova/*.log /var/log/libvirt/qemu/*.log; do [ -f "$f" ] && echo "== $f" && tail -n 500 "$f"; done' \
      > "$out/$n.logs" 2>&1 || true
  done
}
trap 'keep_logs; "$vstage" down "$env" >/dev/null 2>&1 || true' EXIT
osc() { "$vstage" exec "$env" -- openstack --os-cloud admin "$@"; }
header() {
  "$vstage" exec "$env" --node controller -- curl -si http://controller:8774/ |
    tr -d '\r' | sed -n 's/^X-Vstage-Branch: //Ip'
}
[ "$(header)" = change-1 ] || fail "the API does not run the mounted Nova (header: '$(header)')"
say "nova_src: the API answers X-Vstage-Branch: change-1"
osc compute service list --service nova-compute -f value -c Host -c State | tee "$out/computes.txt"
[ "$(grep -c ' up$' "$out/computes.txt")" = 2 ] || fail "not two nova-compute up"

# 3. A server on each compute node; the second pings the first.
start=$(t)
osc server create --image vstage-tenant --flavor m1.vstage --network tenant \
  --availability-zone nova:compute-1 --wait s1 -f value -c id >/dev/null
active() { [ "$(osc server show "$1" -f value -c status)" = ACTIVE ] ||
  fail "server $1: $(osc server show "$1" -f value -c status -c fault)"; }
active s1
say "server s1 ACTIVE on compute-1: $(took "$start")"
ip1=$(osc server show s1 -f json -c addresses | python3 -c \
  'import json,sys; a=json.load(sys.stdin)["addresses"]; print(list(a.values())[0][0] if isinstance(a, dict) else a.split("=")[1])')
printf '#!/bin/sh\nping -c 3 -W 5 %s\n' "$ip1" > "$out/ping.sh"
start=$(t)
osc server create --image vstage-tenant --flavor m1.vstage --network tenant \
  --availability-zone nova:compute-2 --user-data "$out/ping.sh" --wait s2 -f value -c id >/dev/null
active s2
say "server s2 ACTIVE on compute-2: $(took "$start")"
for host in s1 s2; do osc server show "$host" -f value -c OS-EXT-SRV-ATTR:host -c status; done | tee "$out/servers.txt"
for _ in $(seq 120); do
  osc console log show s2 > "$out/s2.console" 2>/dev/null || true
  grep -q 'user-data exited' "$out/s2.console" && break
  sleep 10
done
grep 'vstage-tenant' "$out/s2.console" || true
grep -q ' 0% packet loss' "$out/s2.console" || fail "s2 (compute-2) did not reach s1 ($ip1) on compute-1"
say "s2 on compute-2 pinged s1 ($ip1) on compute-1: $(took "$start") from create"

# 4. A second change, made live by sync; the nodes keep running.
boot_ids() { for n in controller compute-1 compute-2; do
  "$vstage" exec "$env" --node "$n" -- cat /proc/sys/kernel/random/boot_id; done; }
before=$(boot_ids)
mark change-2
start=$(t)
"$vstage" sync "$env" | tee "$out/sync.log"
say "sync: $(took "$start")"
for _ in $(seq 60); do [ "$(header)" = change-2 ] && break; sleep 5; done
[ "$(header)" = change-2 ] || fail "after sync the API answers '$(header)'"
[ "$(boot_ids)" = "$before" ] || fail "a node rebooted during sync"
say "sync: X-Vstage-Branch: change-2, no node rebooted"

# 5. Down leaves nothing.
trap - EXIT
keep_logs
dir=$VSTAGE_HOME/envs/$env
start=$(t)
"$vstage" down "$env"
say "down: $(took "$start")"
[ ! -e "$dir" ] || fail "$dir is still there"
! pgrep -f "$dir" >/dev/null || fail "processes of $env remain"
say "ok: logs in $out"
