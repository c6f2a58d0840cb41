#!/usr/bin/env bash
# The post-training runs on a GPU (docs/gpu.md): the named DVC stages' commands, as dvc.lock renders
# them, under a parameter set, all at once on one machine (each run a process; a GPU at batch 32 is
# mostly idle, so many share it), each stopped after SECONDS at the latest.
# Runs keep their state every 100 steps in runs/finetune/<fingerprint>/ and resume there (call it again
# to continue them); finished runs write their outputs to models/ and logs/ as the stages do.
# OUTPUT_DIR (default runs/gpu_finetune) gets runs.log (each run's last lines) and runs.tar (the run
# directories this call wrote, and the outputs and logs of the runs that finished), to carry the runs
# to another clone (unpack it in its root).
#   scripts/gpu_finetune.sh [--print] SET SECONDS STAGE...
#   e.g. scripts/gpu_finetune.sh finetune_converged 480 finetune@soft_prompt_50-3 soft_prompt_sweep@5e-05
#   --print: only print the commands
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
dry=0
[[ "${1:-}" == "--print" ]] && { dry=1; shift; }
if [[ $# -lt 3 || ! "$2" =~ ^[0-9]+$ ]]; then
  echo "error: usage: scripts/gpu_finetune.sh [--print] SET SECONDS STAGE... (SECONDS a whole number)" >&2
  exit 2
fi
set_name=$1 seconds=$2
shift 2
commands=$(python3 - "$set_name" "$@" <<'PY'
import sys
from pathlib import Path

import yaml

set_name, names = sys.argv[1], sys.argv[2:]
if not Path(f"configs/{set_name}.yaml").exists():
    sys.exit(f"error: no parameter set configs/{set_name}.yaml: name one of configs/")
stages = yaml.safe_load(Path("dvc.lock").read_text())["stages"]
for name in names:
    command = stages.get(name, {}).get("cmd", "")
    if not command.startswith("python -m polyground.stages.finetune "):
        sys.exit(f"error: {name!r} is not a fine-tuning stage of dvc.lock: name finetune@..., soft_prompt_sweep@... or soft_prompt_best")
    print(f"python3 {command.removeprefix('python ')} --set {set_name}")  # the CUDA image has python3
PY
) || exit 2
if (( dry )); then echo "$commands"; exit 0; fi
dest="${OUTPUT_DIR:-runs/gpu_finetune}"
mkdir -p "$dest"
logs=$(mktemp -d)
touch "$logs/started"
i=0
while read -r command; do
  i=$((i + 1))
  echo "[$i] $command" >"$logs/run$i.log"
  timeout "$seconds" $command >>"$logs/run$i.log" 2>&1 &
done <<<"$commands"
wait || true
for log in "$logs"/run*.log; do head -1 "$log"; tail -c 600 "$log" | tr '\r' '\n' | grep -v '^\s*$' | tail -4; echo; done >"$dest/runs.log"
mkdir -p "$logs/logs" && cp "$logs"/run*.log "$logs/logs/"
written=$(find runs/finetune -mindepth 1 -maxdepth 1 -type d -newer "$logs/started" 2>/dev/null || true)
paths=$(ls -d $written models/finetune models/soft_prompt_sweep models/soft_prompt_best logs/finetune \
  logs/soft_prompt_sweep logs/soft_prompt_best* 2>/dev/null || true)
tar cf "$dest/runs.tar" $paths -C "$logs" logs
cat "$dest/runs.log"
