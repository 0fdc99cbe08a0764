#!/usr/bin/env bash
# `make e2e`: for each OpenStack release, the `openstack` template under `vstage run`
# with Tempest's compute server tests on the host, artifacts kept. Prints each phase's
# duration (image build, up, each gate, Tempest, down) and Tempest's counts, and exits
# non-zero if any release failed.
#
#   RELEASES="zed epoxy"  which releases (default both)
#   E2E_REGEX             Tempest's --regex (default: the compute server tests and the
#                         network API tests the SDN clone claims)
#   E2E_EXCLUDE           Tempest's --exclude-regex
#   E2E_OUT               where artifacts go (default: a new directory under /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
vstage=${VSTAGE:-$PWD/target/release/vstage}
releases=${RELEASES:-zed epoxy}
regex=${E2E_REGEX:-'^tempest\.api\.compute\.servers\.(test_create_server|test_servers)\.|^tempest\.api\.network\.(test_versions|test_extensions|test_networks\.NetworksTest|test_ports\.PortsTestJSON)\.'}
# The env's SDN clone advertises no extensions (templates/openstack.yaml), and this test
# uses routers without asking for the `router` one; it passes against the clone
# standalone (tests/sdn_clone.rs), not tried in an env yet.
exclude=${E2E_EXCLUDE:-test_port_list_filter_by_router_id}
out=${E2E_OUT:-$(mktemp -d /tmp/vstage-e2e.XXXXXX)}
# Envs of their own, apart from the user's; images come from the shared cache.
export VSTAGE_HOME=${VSTAGE_HOME:-$out/home}
mkdir -p "$out"

status=0
for r in $releases; do
  dir=$out/$r
  mkdir -p "$dir"
  start=$(date +%s)
  "$vstage" image build "openstack-$r" 2>&1 | tee "$dir/image-build.log"
  build=$(( $(date +%s) - start ))
  rc=0
  "$vstage" run -t openstack --set "release=$r" --name "e2e-$r" --timeout 4h \
    --artifacts "$dir/artifacts" --junit "$dir/junit.xml" --junit-from "$dir/tempest/tempest.xml" \
    -- "$PWD/ci/tempest.sh" "$dir/tempest" "$regex" --exclude-regex "$exclude" || rc=$?
  [ "$rc" = 0 ] || status=1
  python3 - "$r" "$build" "$rc" "$dir" <<'PY'
import json, re, sys, pathlib
release, build, rc, d = sys.argv[1], float(sys.argv[2]), sys.argv[3], pathlib.Path(sys.argv[4])
print(f"== {release}: exit {rc}")
print(f"  image build   {build:8.1f} s")
try:
    for p in json.loads((d / "artifacts/timings.json").read_text())["phases"]:
        print(f"  {p['name']:<13} {p['seconds']:8.1f} s{'' if p['ok'] else '  FAILED'}")
except (OSError, ValueError, KeyError) as e:
    print(f"  (no timings: {e})")
try:
    for line in (d / "artifacts/events.jsonl").read_text().splitlines():
        m = re.search(r"gate (\S+): passed \(([\d.]+)s\)", line)
        if m:
            print(f"    gate {m[1]:<26} {float(m[2]):8.1f} s")
except OSError:
    pass
try:
    xml = (d / "tempest/tempest.xml").read_text()
    tests = len(re.findall(r"<testcase ", xml))
    failed = len(re.findall(r"<failure", xml)) + len(re.findall(r"<error", xml))
    skipped = len(re.findall(r"<skip", xml))
    print(f"  tempest: {tests - failed - skipped} passed, {failed} failed, {skipped} skipped")
except OSError:
    print("  tempest: no results")
PY
done
echo "artifacts: $out"
exit "$status"
