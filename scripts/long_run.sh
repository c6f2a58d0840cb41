#!/usr/bin/env bash
# A long run, resumed across machines (docs/long-run.md): the pretraining run
# (pretrain, the default) or the aligned model's run by the convergence rule (align).
#   scripts/long_run.sh continue [STAGE]   start the run, or continue it from runs/ or from the last
#                                          published state (pulled from the DVC remote on a fresh
#                                          machine); in the background
#   scripts/long_run.sh publish [STAGE]    copy its state (with its progress log) to resume/STAGE/, push
#                                          it to the DVC remote and stage it for a commit: when you stop
#   scripts/long_run.sh status [STAGE]     is it running, and its last progress evaluations
# The recipe is params.yaml, with configs/$POLYGROUND_LONG_SET.yaml merged over it if set
# (e.g. POLYGROUND_LONG_SET=finetune_converged); with align,
# POLYGROUND_LONG_SETUP=S runs the setup S of align_setups instead (stage align_setup; state in
# resume/align_setups/S/).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_venv.sh >/dev/null
name=${2:-pretrain}
[[ "$name" == pretrain || "$name" == align ]] || {
  echo "error: no long run named '$name': choose pretrain or align" >&2; exit 2; }
set_name=${POLYGROUND_LONG_SET:-}
setup=${POLYGROUND_LONG_SETUP:-}
[[ -z "$setup" || "$name" == align ]] || {
  echo "error: POLYGROUND_LONG_SETUP names a setup of align_setups: use it with align" >&2; exit 2; }
stage=(python -m "polyground.stages.$name" ${set_name:+--set "$set_name"} ${setup:+--setup "$setup"})
state=${setup:+align_setups/$setup}
state=${state:-$name}   # the published state: resume/$state
log=runs/${state//\//_}_long.log
running() { pgrep -f "polyground.stages.$name ${set_name:+--set $set_name }${setup:+--setup $setup }--continue" >/dev/null; }

case "${1:-}" in
  continue)
    if running; then echo "the long run is already running (log: $log)"; exit 0; fi
    if [[ -f resume/$state.dvc && ! -f resume/$state/state.json ]]; then
      dvc pull "resume/$state.dvc" || {
        echo "error: the published state (resume/$state.dvc) could not be pulled: check the DVC remote" \
             "(dvc remote list), or move resume/$state.dvc away to start the run afresh" >&2; exit 2; }
    fi
    mkdir -p runs
    nohup "${stage[@]}" --continue >>"$log" 2>&1 &
    echo "the long run is running in the background (pid $!); log: $log; progress: scripts/long_run.sh status $name"
    ;;
  publish)
    "${stage[@]}" --publish
    dvc add --quiet "resume/$state"
    dvc push --quiet "resume/$state.dvc"
    dvc gc --workspace --cloud --remote bundled --force --quiet   # the bundled remote: what HEAD references
    git add "resume/$state.dvc" "$(dirname "resume/$state")/.gitignore" dvc-remote
    echo "published and staged: commit it (each publication adds ~15 MB to the repository: publish when you stop)"
    ;;
  status)
    running && echo "running (log: $log)" || echo "not running"
    progress=$(ls -t runs/"$name"/*/progress.csv resume/"$state"/progress.csv 2>/dev/null | head -1 || true)
    [[ -n "$progress" ]] && cut -d, -f1-12 "$progress" | tail -"${3:-5}" | column -t -s, || echo "no progress evaluations yet"
    ;;
  *) sed -n 2,13p "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
