#!/usr/bin/env bash
# Nightly: the warm pool for one OpenStack release. Deploys `templates/openstack.yaml`
# cold, snapshots it as `openstack-RELEASE-warm-YYYYmmddHHMM` (the pull-request jobs take
# the newest; ci/openstack-run.sh), takes the env down, and lets `vstage gc` remove the
# snapshots that have expired and that no env uses.
#   ci/warm-pool.sh RELEASE LABEL
set -euo pipefail
release=${1:?release (zed or epoxy)} label=${2:?label, such as nightly=RUN_ID}
cd "$(dirname "$0")/.."
name="warm-$release-$$"
snap="openstack-$release-warm-$(date -u +%Y%m%d%H%M)"
trap 'vstage down "$name" >/dev/null 2>&1 || true' EXIT
vstage up -t templates/openstack.yaml --set "release=$release" --name "$name" \
  --label "$label" --ttl 3h --timeout 2h
vstage snapshot create "$name" "$snap"
vstage snapshot ls
vstage gc
