#!/usr/bin/env bash
# The test a CI job runs against its env (ci/github/*.yml, ci/gitlab/.gitlab-ci.yml):
# here, every node answers and its peers are reachable; an OpenStack template's job
# runs `tempest run` with "$VSTAGE_ENV_DIR"'s tempest.conf instead.
set -euo pipefail
nodes=$(python3 -c 'import json,os; print(" ".join(n["name"] for n in json.load(open(os.environ["VSTAGE_ENV_JSON"]))["plan"]["nodes"]))')
for n in $nodes; do
  vstage exec "$VSTAGE_ENV" --node "$n" -- hostname
done
