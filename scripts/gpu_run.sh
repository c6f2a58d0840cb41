#!/usr/bin/env bash
# The GPU run (docs/gpu.md): in ~9 minutes on one GPU, print the environment, measure the GPU path's
# throughput, pretrain the paper-size model with the GPU recipe (configs/gpu.yaml) for as many steps as
# ~6 minutes of that throughput allow (the wsd decay fitted to them; a deadline stops it safely),
# evaluate it on the 10,000-sequence set, and leave 8 files in the output directory:
# model.safetensors, model.json, state.safetensors, state.json (the resumable run state), pretrain.csv,
# pretrain_progress.csv, evaluation.json, throughput.json.
#   scripts/gpu_run.sh            # on a machine with a GPU
#   scripts/gpu_run.sh --smoke    # anywhere: the smoke set, a few steps, eager (tests run it on the CPU)
# Environment: OUTPUT_DIR (default runs/gpu_run; with --smoke a temporary directory), TRAIN_SECONDS
# (default 360), DEADLINE (default 420), COMPILE_MODE (default reduce-overhead).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
if [[ "${1:-}" == "--smoke" ]]; then dest="${OUTPUT_DIR:-$(mktemp -d)}"; else dest="${OUTPUT_DIR:-runs/gpu_run}"; fi
mkdir -p "$dest"
began=$(date +%s)
say() { echo "[gpu_run $(( $(date +%s) - began ))s] $*"; }
if [[ "${1:-}" == "--smoke" ]]; then
  set_args=(--set smoke --compile-mode none --steps 20)
  bench_args=(--batches 8 --points 11 --steps 2 --compile-mode none)
  run="$(mktemp -d)/run"
else
  set_args=(--set gpu --compile-mode "${COMPILE_MODE:-reduce-overhead}")
  bench_args=(--points 31 81 --steps 20 --compile-mode "${COMPILE_MODE:-reduce-overhead}")
  run=runs/gpu
fi
say "environment"
python3 -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
    torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU")'
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv || true
say "throughput"
python3 bench/train_throughput.py "${bench_args[@]}" --json "$dest/throughput.json"
if [[ "${1:-}" != "--smoke" ]]; then
  # steps that fit TRAIN_SECONDS at the recipe's mix (3 of 4 steps at 31 points, 1 at 81) and batch
  steps=$(python3 - "$dest/throughput.json" "${TRAIN_SECONDS:-360}" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
batch = max(r["batch"] for r in rows)
rate = {r["points"]: r["sequences_per_s"] for r in rows if r["batch"] == batch}
seconds_per_step = batch * (0.75 / rate[31] + 0.25 / rate[81])
print(min(30000, int(float(sys.argv[2]) / seconds_per_step) // 100 * 100))
PY
)
  set_args+=(--steps "$steps" --deadline "${DEADLINE:-420}")
  say "training $steps steps"
fi
python3 -m polyground.fast_train "${set_args[@]}" --out "$dest/result" --run-dir "$run"
mv "$dest/result/model/model.safetensors" "$dest/result/model/model.json" "$dest/result/pretrain.csv" \
   "$dest/result/evaluation.json" "$dest/"
[[ -f "$dest/result/pretrain_progress.csv" ]] && mv "$dest/result/pretrain_progress.csv" "$dest/"
cp "$run/state.safetensors" "$run/state.json" "$dest/"
rm -r "$dest/result"
say "done: $dest: $(ls "$dest" | tr '\n' ' ')"
