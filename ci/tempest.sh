#!/usr/bin/env bash
# Tempest against the env that `vstage run` or `vstage exec` hands over: the env's
# tempest.conf (TEMPEST_CONFIG_DIR/TEMPEST_CONFIG), a workspace of its own in a temporary
# directory (Tempest keeps its workspace registry under HOME), and the results left in
# OUT as JUnit (for `vstage run --junit-from`), subunit and tempest.log. Tempest's own
# log lines (stderr) go to OUT/tempest.stderr; the per-test lines stay on stdout.
# Upstream's SubnetsClient instead of Debian's sleeping one (docs/testing.md).
#   ci/tempest.sh OUT REGEX [tempest run options...]
set -euo pipefail
out=$1 regex=$2
shift 2
: "${TEMPEST_CONFIG_DIR:?run me through vstage run or vstage exec}"
mkdir -p "$out"
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
export HOME=$home
export PYTHONPATH=$(cd "$(dirname "$0")" && pwd)/tempest-upstream${PYTHONPATH:+:$PYTHONPATH}
export PYTHONDONTWRITEBYTECODE=1
tempest init "$home/ws" >/dev/null
cd "$home/ws"
rc=0
tempest run --serial --regex "$regex" "$@" 2> "$out/tempest.stderr" || rc=$?
stestr last --subunit > "$out/tempest.subunit" 2>/dev/null || true
subunit2junitxml < "$out/tempest.subunit" > "$out/tempest.xml" 2>/dev/null || true
cp tempest.log "$out/" 2>/dev/null || true
exit "$rc"
