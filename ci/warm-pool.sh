#!/usr/bin/env bash
# Nightly: the warm pool for one OpenStack release. Deploys `templates/openstack.yaml`
# cold, snapshots it as `openstack-RELEASE-warm-YYYYmmddHHMM` (the pull-request jobs take
# the newest; ci/openstack-run.sh), takes the env down, and lets `vstage gc` remove the
# snapshots that have expired and that no env uses. Its nodes mount an empty directory
# at /opt/vstage/src/nova (the packaged Nova runs), so a pull request's restore can put
# its own Nova tree behind that mount (ci/openstack-run.sh with NOVA_SRC).
#   ci/warm-pool.sh RELEASE LABEL
#   WARM_NOVA_SRC  the empty directory (default ~/.local/share/vstage-warm-pool/nova);
#                  it must outlive the snapshots
set -euo pipefail
release=${1:?release (zed or epoxy)} label=${2:?label, such as nightly=RUN_ID}
cd "$(dirname "$0")/.."
name="warm-$release-$$"
snap="openstack-$release-warm-$(date -u +%Y%m%d%H%M)"
empty=${WARM_NOVA_SRC:-$HOME/.local/share/vstage-warm-pool/nova}
mkdir -p -m 700 "$empty"
[ -z "$(ls -A "$empty")" ] || { echo "$empty is not empty" >&2; exit 2; }
trap 'vstage down "$name" >/dev/null 2>&1 || true' EXIT
vstage up -t templates/openstack.yaml --set "release=$release" --set "nova_src=$empty" \
  --name "$name" --label "$label" --ttl 3h --timeout 2h
vstage snapshot create "$name" "$snap"
vstage snapshot ls
vstage gc
