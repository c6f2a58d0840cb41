#!/usr/bin/env bash
# The long pretraining run, across sessions and machines (docs/long-run.md).
#   scripts/long_run.sh continue   start the run, or continue it from runs/ or from the last published
#                                  state (pulled from the DVC remote on a fresh machine); in the background
#   scripts/long_run.sh publish    copy its state (with its progress log) to resume/pretrain/, push it to
#                                  the DVC remote and stage it for a commit: once a session
#   scripts/long_run.sh status     is it running, and its last progress evaluations
# The recipe is params.yaml (pretrain.train), with configs/$POLYGROUND_LONG_SET.yaml merged over it if set.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_venv.sh >/dev/null
set_name=${POLYGROUND_LONG_SET:-}
stage=(python -m polyground.stages.pretrain ${set_name:+--set "$set_name"})
log=runs/pretrain_long.log
running() { pgrep -f "polyground.stages.pretrain ${set_name:+--set $set_name }--continue" >/dev/null; }

case "${1:-}" in
  continue)
    if running; then echo "the long run is already running (log: $log)"; exit 0; fi
    if [[ -f resume/pretrain.dvc && ! -f resume/pretrain/state.json ]]; then
      dvc pull resume/pretrain.dvc || {
        echo "error: the published state (resume/pretrain.dvc) could not be pulled: check the DVC remote" \
             "(dvc remote list), or move resume/pretrain.dvc away to start the run afresh" >&2; exit 2; }
    fi
    mkdir -p runs
    nohup "${stage[@]}" --continue >>"$log" 2>&1 &
    echo "the long run is running in the background (pid $!); log: $log; progress: scripts/long_run.sh status"
    ;;
  publish)
    "${stage[@]}" --publish
    dvc add --quiet resume/pretrain
    dvc push --quiet resume/pretrain.dvc
    git add resume/pretrain.dvc resume/.gitignore dvc-remote
    echo "published and staged: commit it (each publication adds ~15 MB to the repository: once a session)"
    ;;
  status)
    running && echo "running (log: $log)" || echo "not running"
    progress=$(ls -t runs/pretrain/*/progress.csv resume/pretrain/progress.csv 2>/dev/null | head -1 || true)
    [[ -n "$progress" ]] && cut -d, -f1-12 "$progress" | tail -"${2:-5}" | column -t -s, || echo "no progress evaluations yet"
    ;;
  *) sed -n 2,9p "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
