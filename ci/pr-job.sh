#!/usr/bin/env bash
# Example CI job for one pull request: a private env per job, a test against it,
# teardown whatever happens, logs kept as artifacts, the test's exit code returned.
#   ci/pr-job.sh PR_NUMBER [TEMPLATE]
set -uo pipefail
pr=${1:?pull request number}
template=${2:-tiny}
env="pr-${pr}-${CI_JOB_ID:-$$}"
artifacts=${ARTIFACTS:-artifacts}
# Each job has its own state directory, so jobs on one host never collide.
export VSTAGE_HOME=${VSTAGE_HOME:-$(mktemp -d /tmp/vstage-ci.XXXXXX)}
mkdir -p "$artifacts"

teardown() {
  # Keep the env's logs before they go with the env.
  if [ -d "$VSTAGE_HOME/envs/$env" ]; then
    cp -r "$VSTAGE_HOME/envs/$env/nodes" "$artifacts/nodes" 2>/dev/null || true
    cp "$VSTAGE_HOME/envs/$env/supervisor.log" "$artifacts/" 2>/dev/null || true
  fi
  vstage down --force "$env" >/dev/null 2>&1 || true
}
trap teardown EXIT

vstage up -t "$template" --name "$env" || exit 1
# The test itself: here, node-to-node reachability; a real job runs tempest.
vstage exec "$env" --node n1 -- ping -c 3 n2
