#!/usr/bin/env bash
# A pull request's Tempest run against OpenStack: restored from the newest warm snapshot
# of the release (ci/warm-pool.sh, nightly) that lives at least another hour, or deployed
# cold when there is none. Tempest's results land in TEMPEST_OUT (its JUnit merged into
# `--junit`); the other flags go to `vstage run` as they are.
#   ci/openstack-run.sh RELEASE TEMPEST_OUT TEMPEST_REGEX [vstage run flags...]
#   NOVA_SRC  a Nova tree (the pull request's checkout) that the env runs instead of the
#             packaged Nova: behind the warm env's mount (installed and Nova's services
#             restarted before the env is ready), or the cold env's nova_src

set -euo pipefail
release=${1:?release} tempest_out=${2:?Tempest results dir} regex=${3:?Tempest regex}
shift 3
cd "$(dirname "$0")/.."
snap=$(vstage snapshot ls --output json | /usr/bin/python3 -c '
import json, sys, time
prefix = f"openstack-{sys.argv[1]}-warm-"
rows = [r for r in json.load(sys.stdin)
        if r["name"].startswith(prefix) and (r["expires_unix"] or 0) > time.time() + 3600]
print(max(rows, key=lambda r: r["created_unix"])["name"] if rows else "")' "$release")
if [ -n "$snap" ]; then
  echo "warm: restoring $snap"
  from=(--from "$snap" ${NOVA_SRC:+--mount "/opt/vstage/src/nova=$NOVA_SRC"})
else
  echo "cold: no usable warm snapshot of $release"
  from=(-t templates/openstack.yaml --set "release=$release" ${NOVA_SRC:+--set "nova_src=$NOVA_SRC"})
fi
exec vstage run "${from[@]}" --junit-from "$tempest_out/tempest.xml" "$@" \
  -- "$PWD/ci/tempest.sh" "$tempest_out" "$regex"
