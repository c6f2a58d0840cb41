#!/usr/bin/env bash
# The main job: set up, pull the trained checkpoints from the DVC remote, regenerate every metric
# and figure from them, and check the pipeline is up to date. (Verification of the stored claims
# with a PASS/FAIL table is the reviewer's-path issue, not built yet.)
set -euo pipefail
cd "$(dirname "$0")"
began=$SECONDS
step() { printf '\n== [%4ds] %s\n' $((SECONDS - began)) "$*"; }
step "environment"
source scripts/ensure_venv.sh
step "dvc pull (checkpoints from the default remote: $(dvc remote default))"
dvc pull
step "regenerate evaluation and figures from the pulled checkpoints"
dvc repro --force --single-item evaluate_pretrain
dvc repro --force --single-item figures
step "pipeline status"
dvc status
git --no-pager diff --stat -- metrics figures || true
step "metrics"
dvc metrics show
step "done"
