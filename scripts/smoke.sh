#!/usr/bin/env bash
# The whole pipeline on the smoke parameter set (configs/smoke.yaml), in a copy of the working tree:
# the workspace's models, metrics and figures are left untouched. Its ~55 stages are small: each is
# forked from one process that imported torch, transformers and the rest once (polyground.prestart).
#   scripts/smoke.sh [DIR]    (default: a new temporary directory; the tests use it too)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$(mktemp -d "${TMPDIR:-/tmp}/polyground-smoke.XXXXXX")}
mkdir -p "$dir"
cd "$root" && source scripts/ensure_venv.sh >/dev/null
for name in src configs paper dvc.yaml params.yaml .dvcignore; do cp -r "$root/$name" "$dir/"; done
rm -rf "$dir/paper/generated" "$dir"/paper/*.pdf
find "$dir/src" -name __pycache__ -prune -exec rm -rf {} +
cd "$dir"
export PYTHONPATH="$dir/src"
git init -q && dvc init -q
python -m polyground.config smoke
python -m polyground.prestart -- dvc repro figures report pretrain_progress phenomena_figure jailbreak_setup
echo "the smoke pipeline ran in $dir"
