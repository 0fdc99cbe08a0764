#!/usr/bin/env bash
# `make e2e-warm`: the warm feedback loop for one OpenStack release, end to end.
#   1. cold: `vstage up -t openstack` until every gate passes (each gate's duration);
#   2. `snapshot create` of the deployed env under a stable name, then `down`;
#   3. a wait past Nova's service_down_time (60 s), so the restore must bring every
#      nova-compute back to reporting, not find its last heartbeat still fresh;
#   4. warm: `vstage run --from` the snapshot with Tempest (test_create_server and the
#      held-out selection of issue 28): restore-to-ready, Tempest, teardown.
# Prints each phase and the ratio cold/warm to ready; exits non-zero if a step failed.
#
#   RELEASE       zed or epoxy (default epoxy)
#   WARM_REGEX    Tempest's --regex for the warm run
#   WARM_WAIT     seconds between the snapshot and the restore (default 90)
#   E2E_OUT       where artifacts go (default: a new directory under /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
vstage=${VSTAGE:-$PWD/target/release/vstage}
r=${RELEASE:-epoxy}
regex=${WARM_REGEX:-'^tempest\.api\.compute\.(servers\.(test_create_server|test_list_server_filters)|flavors|keypairs|limits|admin\.(test_quotas|test_hypervisor|test_services))\.|^tempest\.api\.image\.v2\.'}
wait_s=${WARM_WAIT:-90}
out=${E2E_OUT:-$(mktemp -d /tmp/vstage-e2e-warm.XXXXXX)}
export VSTAGE_HOME=${VSTAGE_HOME:-$out/home}
mkdir -p "$out"
snap=openstack-$r-warm
src=warm-src-$r
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
# Whatever happens, nothing of this run stays behind.
cleanup() {
  "$vstage" down "$src" >/dev/null 2>&1 || true
  "$vstage" snapshot rm "$snap" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$vstage" image build "openstack-$r" > "$out/image-build.log" 2>&1
t=$(now)
"$vstage" up -t openstack --set "release=$r" --name "$src" --timeout 4h 2> "$out/cold-up.log"
cold=$(since "$t")
"$vstage" events "$src" > "$out/cold-events.txt" 2>&1 || true
t=$(now)
"$vstage" snapshot create "$src" "$snap" > "$out/snapshot.log" 2>&1
save=$(since "$t")
"$vstage" snapshot ls > "$out/snapshot-ls.txt"
"$vstage" down "$src" >/dev/null
sleep "$wait_s"
rc=0
t=$(now)
"$vstage" run --from "$snap" --name "warm-$r" --timeout 1h \
  --artifacts "$out/artifacts" --junit "$out/junit.xml" --junit-from "$out/tempest/tempest.xml" \
  -- "$PWD/ci/tempest.sh" "$out/tempest" "$regex" 2> "$out/warm-run.log" || rc=$?
loop=$(since "$t")
python3 - "$r" "$cold" "$save" "$wait_s" "$loop" "$rc" "$out" <<'PY'
import json, re, sys, pathlib
r, cold, save, wait, loop, rc, out = sys.argv[1:]
d = pathlib.Path(out)
print(f"== warm loop, {r}: exit {rc}")
print(f"  cold up to ready        {float(cold):8.1f} s")
for line in (d / "cold-up.log").read_text().splitlines():
    m = re.search(r"gate (\S+): passed \(([\d.]+)s\)", line)
    if m:
        print(f"    gate {m[1]:<27} {float(m[2]):6.1f} s")
print(f"  snapshot create         {float(save):8.1f} s")
for line in (d / "snapshot-ls.txt").read_text().splitlines():
    print(f"    {line}")
print(f"  wait before the restore {float(wait):8.1f} s (Nova's service_down_time is 60 s)")
warm_up = None
try:
    for p in json.loads((d / "artifacts/timings.json").read_text())["phases"]:
        print(f"  warm {p['name']:<18} {p['seconds']:8.1f} s{'' if p['ok'] else '  FAILED'}")
        if p["name"] == "up":
            warm_up = p["seconds"]
except (OSError, ValueError, KeyError) as e:
    print(f"  (no timings: {e})")
try:
    for line in (d / "artifacts/events.jsonl").read_text().splitlines():
        m = re.search(r"gate (\S+): passed \(([\d.]+)s\)", line)
        if m:
            print(f"    gate {m[1]:<27} {float(m[2]):6.1f} s")
except OSError:
    pass
print(f"  warm run, restore to verdict {float(loop):8.1f} s")
if warm_up:
    print(f"  ready: cold/warm = {float(cold) / warm_up:.1f}x")
try:
    xml = (d / "tempest/tempest.xml").read_text()
    tests = len(re.findall(r"<testcase ", xml))
    failed = len(re.findall(r"<failure", xml)) + len(re.findall(r"<error", xml))
    skipped = len(re.findall(r"<skip", xml))
    print(f"  tempest: {tests - failed - skipped} passed, {failed} failed, {skipped} skipped")
    for m in re.finditer(r'<testcase [^>]*name="([^"]+)"[^>]*>\s*<(failure|error)', xml):
        print(f"    FAILED {m[1]}")
except OSError:
    print("  tempest: no results")
PY
echo "artifacts: $out"
exit "$rc"
