#!/usr/bin/env bash
# The main job: set up, pull the trained checkpoints from the DVC remote, regenerate every metric,
# figure and the report from them, and verify the stored claims (paper/claims.yaml).
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  cat <<'EOF'
Usage: ./reproduce.sh [--retrain] [--only STAGE_OR_FIGURE] [--audit [--audit-seed N]] [--docker] [--help]

Default: set up the environment (once), pull the checkpoints from the default DVC remote, force the
evaluation, figure and report stages (never the training ones), then verify every claim of
paper/claims.yaml. Each claim gets two verdicts: regenerated (PASS/FAIL: the regenerated numbers
equal the recorded ones within the re-evaluation tolerance) and the paper's (REPRODUCED / NOT
REPRODUCED / INCONCLUSIVE, decided by the intervals of the numbers; HOLDS / DOES NOT HOLD /
INCONCLUSIVE for a finding of this artifact). Prints the table, writes it to reports/claims.md and
reports/claims.json, and exits non-zero if any regeneration check fails.

  --retrain        retrain everything from scratch with params.yaml (no pull), then verify that no
                   decided verdict is reversed (a retrained model's numbers move). The stage times:
                   docs/pipeline.md.
  --only NAME      one stage (e.g. evaluate_pretrain) or one figure (e.g. pretrain_vs_baselines):
                   regenerate just that, then verify only the claims of that stage's figures.
  --audit          instead of regenerating everything: measure a random sample of the stored chunks
                   of every evaluation stage again from the checkpoints, recompute every interval and
                   value from the stored chunk means and every verdict from the metrics, and exit
                   non-zero on any disagreement (python -m polyground.audit; a few minutes).
  --audit-seed N   replay the draw of chunks of an earlier audit (each audit prints its seed).
  --docker         build the image (Dockerfile) and run this script inside it with the repository
                   mounted; the other options are passed on.
  --help           this text.
EOF
}

retrain=0 only="" docker=0 audit=0 audit_seed=() passthrough=()
while (($#)); do
  case "$1" in
    --retrain) retrain=1; passthrough+=("$1") ;;
    --only) [[ $# -ge 2 ]] || { echo "error: --only needs a stage or figure name (see --help)" >&2; exit 2; }
            only="$2"; passthrough+=("$1" "$2"); shift ;;
    --audit) audit=1; passthrough+=("$1") ;;
    --audit-seed) [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || { echo "error: --audit-seed needs a whole number (printed by an earlier audit)" >&2; exit 2; }
                  audit=1 audit_seed=(--seed "$2"); passthrough+=("$1" "$2"); shift ;;
    --docker) docker=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown option '$1' (see ./reproduce.sh --help)" >&2; exit 2 ;;
  esac
  shift
done

if ((audit)) && { ((retrain)) || [[ -n "$only" ]]; }; then
  echo "error: --audit checks the stored results as they are: use it without --retrain and --only" >&2; exit 2
fi

began=$SECONDS
step() { printf '\n== [%4ds] %s\n' $((SECONDS - began)) "$*"; }

if ((docker)); then
  command -v docker >/dev/null || { echo "error: --docker needs docker on PATH (or run ./reproduce.sh directly)" >&2; exit 2; }
  step "docker build -t polyground ."
  docker build -t polyground .
  gpus=(); command -v nvidia-smi >/dev/null && gpus=(--gpus all)
  step "docker run (repository mounted at /work/polyground)"
  exec docker run --rm "${gpus[@]}" --user "$(id -u):$(id -g)" -v "$PWD:/work/polyground" polyground \
    ./reproduce.sh "${passthrough[@]}"
fi

step "environment"
source scripts/ensure_venv.sh

if ((audit)); then
  step "dvc pull (checkpoints from the DVC remote)"
  python -m polyground.remote pull
  step "audit: stored chunks measured again, intervals, values and verdicts recomputed"
  set +e
  python -m polyground.audit "${audit_seed[@]}"
  status=$?
  set -e
  step "done (exit $status)"
  exit $status
fi

# Stages whose outputs are regenerated from the checkpoints (in pipeline order), and training ones.
# The five experiments beyond the paper train inside their stages: they count as training ones.
regenerate=(pretrain_progress evaluate_pretrain evaluate_clamping evaluate_model_sizes evaluate_align jailbreak jailbreak_setup evaluate_soft_prompt_sweep evaluate_finetune phenomena_figure figures report)
training=(pretrain pretrain_snapshot pretrain_size align align_setup finetune soft_prompt_sweep soft_prompt_best seed_spread
          align_peft elasticity safety_basin steering many_shot post_training_scaling)
stage_of_figure() {  # the stage of dvc.yaml that writes figures/NAME.png
  python - "$1" <<'PY'
import sys, yaml
stages = yaml.safe_load(open("dvc.yaml"))["stages"]
hits = [s for s, d in stages.items() for o in d.get("outs", []) if f"figures/{sys.argv[1]}." in str(o)]
print(hits[0] if hits else "")
PY
}

targets=("${regenerate[@]}") retrain_targets=("${training[@]}") claims_filter=()
if [[ " ${training[*]} " == *" $only "* ]]; then
  ((retrain)) || { echo "error: '$only' is a training stage: use ./reproduce.sh --retrain --only $only" >&2; exit 2; }
  retrain_targets=("$only")  # every claim is verified: the stages downstream of it are regenerated
elif [[ " ${regenerate[*]} report_pdf " == *" $only "* ]]; then
  targets=("$only") claims_filter=(--stage "$only")
elif [[ -n "$only" ]]; then
  stage=$(stage_of_figure "$only")
  [[ -n "$stage" ]] || { echo "error: --only '$only' is neither a stage (${regenerate[*]} report_pdf ${training[*]}) nor a figure in figures/" >&2; exit 2; }
  targets=("$stage") claims_filter=(--only "$only")
fi

if ((retrain)); then
  step "retrain from scratch with params.yaml: ${retrain_targets[*]} (the previous checkpoints stay in the DVC cache: dvc checkout restores them)"
  for stage in "${retrain_targets[@]}"; do
    step "dvc repro --force --single-item $stage"
    dvc repro --force --single-item "$stage"
    if [[ "$stage" == soft_prompt_sweep ]]; then  # soft_prompt_best reads the rate this sweep chose
      step "dvc repro --force --single-item evaluate_soft_prompt_sweep (the new sweep's best rate)"
      dvc repro --force --single-item evaluate_soft_prompt_sweep
      evaluated_sweep=1
    fi
  done
else
  step "dvc pull (checkpoints from the DVC remote)"
  python -m polyground.remote pull
fi

for stage in "${targets[@]}"; do
  [[ "$stage" == report_pdf || ( "$stage" == evaluate_soft_prompt_sweep && -n "${evaluated_sweep:-}" ) ]] && continue
  step "dvc repro --force --single-item $stage"
  dvc repro --force --single-item "$stage"
done
if [[ -z "$only" || " ${training[*]} " == *" $only "* || "$only" == report* ]]; then
  if command -v pdflatex >/dev/null; then
    step "dvc repro --force --single-item report_pdf"
    dvc repro --force --single-item report_pdf
  else
    step "report_pdf skipped: no TeX engine (pdflatex); paper/report.pdf is the committed one (docs/reviewing.md, 'Report')"
  fi
fi

step "pipeline status (dvc status) and changes against the committed results"
dvc status
git --no-pager diff --stat -- metrics figures paper 2>/dev/null || true

tolerance=reevaluate; ((retrain)) && tolerance=retrain
step "verify the claims of paper/claims.yaml (regenerated: ${tolerance}; paper: the verdicts)"
set +e
python -m polyground.claims verify --tolerance "$tolerance" "${claims_filter[@]}"
status=$?
set -e
step "done: reports/claims.md, reports/claims.json (exit $status)"
exit $status
