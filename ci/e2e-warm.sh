#!/usr/bin/env bash
# `make e2e-warm`: the warm feedback loop for one OpenStack release, end to end, with the
# branch's own Nova (the image's python3-nova unpacked, its API marked; ci/nova-tree.sh).
#   1. cold loop: `vstage up -t openstack --set nova_src=TREE` (change-1) until every gate
#      passes, the API answers with change-1, Tempest's test_create_server verdict;
#   2. `snapshot create` of that env under a stable name, then `down`;
#   3. a wait past Nova's service_down_time (60 s), so the restore must bring every
#      nova-compute back to reporting, not find its last heartbeat still fresh;
#   4. warm loop: `vstage run --from SNAP --mount /opt/vstage/src/nova=TREE2` (change-2):
#      restore, install of the changed tree and restart of Nova's services, the API answers
#      with change-2, test_create_server's verdict, teardown;
#   5. memory: two envs restored at once from the snapshot, their PSS against the cold
#      env's (measured alone, after its Tempest run);
#   6. `vstage run --from SNAP` (the snapshot's own tree, nothing to install) with the
#      held-out Tempest selection of issue 28: restore-to-ready, Tempest, teardown.
# Prints each phase and the ratios cold/warm; exits non-zero if a step failed.
#
#   RELEASE       zed or epoxy (default epoxy)
#   WARM_REGEX    Tempest's --regex for step 6 (empty: skip step 6)
#   WARM_WAIT     seconds between the snapshot and the restore (default 90)
#   E2E_OUT       where artifacts go (default: a new directory under /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
vstage=${VSTAGE:-$PWD/target/release/vstage}
r=${RELEASE:-epoxy}
regex=${WARM_REGEX-'^tempest\.api\.compute\.(servers\.(test_create_server|test_list_server_filters)|flavors|keypairs|limits|admin\.(test_quotas|test_hypervisor|test_services))\.|^tempest\.api\.image\.v2\.'}
create='^tempest\.api\.compute\.servers\.test_create_server\.'
wait_s=${WARM_WAIT:-90}
out=${E2E_OUT:-$(mktemp -d /tmp/vstage-e2e-warm.XXXXXX)}
export VSTAGE_HOME=${VSTAGE_HOME:-$out/home}
mkdir -p "$out"
snap=openstack-$r-warm
src=warm-src-$r
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }
# PSS in KiB of every process of env $1 (its QEMUs, virtiofsds, supervisor, clones):
# the processes whose command line names the env's directory.
pss() {
  local dir
  dir=$("$vstage" exec "$1" -- printenv VSTAGE_ENV_DIR) || dir=
  [ -n "$dir" ] || { echo 0; return; }
  python3 - "$dir" <<'PY'
import os, sys
total = 0
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if sys.argv[1].encode() not in open(f"/proc/{pid}/cmdline", "rb").read():
            continue
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                total += int(line.split()[1])
    except OSError:
        pass
print(total)
PY
}
# Whatever happens, nothing of this run stays behind.
cleanup() {
  for e in "$src" "pss-a-$r" "pss-b-$r"; do "$vstage" down "$e" >/dev/null 2>&1 || true; done
  "$vstage" snapshot rm "$snap" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The branch: two changes of the image's own Nova.
"$vstage" image build "openstack-$r" > "$out/image-build.log" 2>&1
VSTAGE=$vstage bash ci/nova-tree.sh fetch "$r" "$out/nova-1"
bash ci/nova-tree.sh mark "$out/nova-1" change-1
rm -rf "$out/nova-2" && cp -a "$out/nova-1" "$out/nova-2"
bash ci/nova-tree.sh mark "$out/nova-2" change-2
# What a test command checks first: the API runs the change it was given.
cat > "$out/verdict.sh" <<SH
#!/usr/bin/env bash
# CHANGE TEMPEST_OUT: the API answers X-Vstage-Branch: CHANGE, then test_create_server.
set -euo pipefail
got=\$("$vstage" exec "\$VSTAGE_ENV" --node controller -- curl -si http://controller:8774/ |
  tr -d '\r' | sed -n 's/^X-Vstage-Branch: //Ip')
echo "the API runs: \${got:-the packaged Nova}"
[ "\$got" = "\$1" ] || exit 97
exec "$PWD/ci/tempest.sh" "\$2" '$create'
SH
chmod 700 "$out/verdict.sh"

rc=0
t=$(now)
"$vstage" up -t openstack --set "release=$r" --set "nova_src=$out/nova-1" --name "$src" \
  --timeout 4h 2> "$out/cold-up.log"
cold=$(since "$t")
"$vstage" events "$src" > "$out/cold-events.txt" 2>&1 || true
"$vstage" exec "$src" -- "$out/verdict.sh" change-1 "$out/cold-tempest" > "$out/cold-verdict.log" 2>&1 || rc=$?
cold_loop=$(since "$t")
cold_pss=$(pss "$src")
t=$(now)
"$vstage" snapshot create "$src" "$snap" > "$out/snapshot.log" 2>&1
save=$(since "$t")
"$vstage" snapshot ls > "$out/snapshot-ls.txt"
"$vstage" down "$src" >/dev/null
sleep "$wait_s"

t=$(now)
"$vstage" run --from "$snap" --mount "/opt/vstage/src/nova=$out/nova-2" --name "loop-$r" \
  --timeout 1h --artifacts "$out/loop" --junit "$out/loop-junit.xml" \
  --junit-from "$out/loop-tempest/tempest.xml" \
  -- "$out/verdict.sh" change-2 "$out/loop-tempest" > "$out/loop-verdict.log" 2> "$out/loop-run.log" || rc=$?
warm_loop=$(since "$t")
# Memory: two envs restored from the snapshot at once against the cold env (alone).
"$vstage" up --from "$snap" --name "pss-a-$r" > /dev/null 2>> "$out/pss.log" &&
  "$vstage" up --from "$snap" --name "pss-b-$r" > /dev/null 2>> "$out/pss.log" || rc=$?
sleep 30
warm_pss="$(pss "pss-a-$r" 2>/dev/null || echo 0) $(pss "pss-b-$r" 2>/dev/null || echo 0)"
"$vstage" down "pss-a-$r" >/dev/null 2>&1 || true
"$vstage" down "pss-b-$r" >/dev/null 2>&1 || true
if [ -n "$regex" ]; then
  "$vstage" run --from "$snap" --name "warm-$r" --timeout 1h \
    --artifacts "$out/artifacts" --junit "$out/junit.xml" --junit-from "$out/tempest/tempest.xml" \
    -- "$PWD/ci/tempest.sh" "$out/tempest" "$regex" > "$out/warm-run.out" 2> "$out/warm-run.log" || rc=$?
fi
python3 - "$r" "$cold" "$cold_loop" "$save" "$wait_s" "$warm_loop" "$rc" "$out" "$cold_pss" "$warm_pss" <<'PY'
import json, re, sys, pathlib
r, cold, cold_loop, save, wait, warm_loop, rc, out, cold_pss, warm_pss = sys.argv[1:]
d = pathlib.Path(out)

def gates(path):
    try:
        for line in path.read_text().splitlines():
            m = re.search(r"gate (\S+): passed \(([\d.]+)s\)", line)
            if m:
                print(f"    gate {m[1]:<27} {float(m[2]):6.1f} s")
    except OSError:
        pass

def phases(dir, label):
    up = None
    try:
        for p in json.loads((dir / "timings.json").read_text())["phases"]:
            print(f"  {label} {p['name']:<18} {p['seconds']:8.1f} s{'' if p['ok'] else '  FAILED'}")
            if p["name"] == "up":
                up = p["seconds"]
    except (OSError, ValueError, KeyError) as e:
        print(f"  {label}: no timings ({e})")
    try:
        lines = (dir / "events.jsonl").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            message = json.loads(line)["event"].get("message") or ""
        except (ValueError, KeyError, AttributeError):
            continue
        if re.search(r"gate \S+: passed|mount .* installed", message):
            print(f"    {message}")
    return up

def tempest(path, label):
    try:
        xml = path.read_text()
    except OSError:
        print(f"  {label} tempest: no results")
        return
    tests = len(re.findall(r"<testcase ", xml))
    failed = len(re.findall(r"<failure", xml)) + len(re.findall(r"<error", xml))
    skipped = len(re.findall(r"<skip", xml))
    print(f"  {label} tempest: {tests - failed - skipped} passed, {failed} failed, {skipped} skipped")
    for m in re.finditer(r'<testcase [^>]*name="([^"]+)"[^>]*>\s*<(failure|error)', xml):
        print(f"    FAILED {m[1]}")

def said(path):
    try:
        return next((l for l in path.read_text().splitlines() if l.startswith("the API runs")), "no answer")
    except OSError:
        return "no answer"

print(f"== warm loop, {r}: exit {rc}")
print(f"  cold up to ready (nova_src=change-1)  {float(cold):8.1f} s")
gates(d / "cold-up.log")
print(f"  cold: {said(d / 'cold-verdict.log')}")
tempest(d / "cold-tempest/tempest.xml", "cold")
print(f"  COLD LOOP, changed tree to verdict    {float(cold_loop):8.1f} s")
print(f"  snapshot create                       {float(save):8.1f} s")
for line in (d / "snapshot-ls.txt").read_text().splitlines():
    print(f"    {line}")
print(f"  wait before the restores {float(wait):8.1f} s (Nova's service_down_time is 60 s)")
phases(d / "loop", "loop")
print(f"  warm: {said(d / 'loop-verdict.log')}")
tempest(d / "loop-tempest/tempest.xml", "warm")
print(f"  WARM LOOP, changed tree to verdict    {float(warm_loop):8.1f} s")
print(f"  loop: cold/warm = {float(cold_loop) / float(warm_loop):.1f}x")
if (d / "artifacts").exists():
    up = phases(d / "artifacts", "held-out")
    tempest(d / "tempest/tempest.xml", "held-out")
    if up:
        print(f"  ready: cold/warm = {float(cold) / up:.1f}x")
a, b = (int(x) for x in warm_pss.split())
print(f"  PSS: two restored envs {a / 1024:.0f} + {b / 1024:.0f} MiB = {(a + b) / 1024:.0f} MiB;"
      f" the cold env {int(cold_pss) / 1024:.0f} MiB (two: {2 * int(cold_pss) / 1024:.0f} MiB);"
      f" warm/cold = {(a + b) / (2 * int(cold_pss)):.2f}")
PY
echo "artifacts: $out"
exit "$rc"
