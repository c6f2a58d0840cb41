"""A lower bound on the reviewer's path (`./reproduce.sh`) on this machine: the forward FLOPs its
evaluation stages spend on paper-size models (analytic, from params.yaml's sample sizes), divided by
the fp32 matmul peak measured in the same run. Left out, so the bound stays a bound: the smaller
models of evaluate_model_sizes, the baselines, a soft prompt's extra attention, the query tokens of
the nested jailbreak contexts, the figures, the report and every overhead. If the bound exceeds a
time target, no implementation meets the target at these sample sizes on this hardware.

    python bench/reviewer_bound.py [--peak GFLOPS]   # --peak: use a peak measured before (a busy machine)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

from forward import forward_flops  # noqa: E402  (bench/, the script's folder)
from polyground.config import load_params  # noqa: E402
from timing import matmul_peak  # noqa: E402


def passes(params) -> dict[str, list[tuple[int, int, int]]]:
    """Per evaluation stage: (model passes, sequences, tokens per sequence) of paper-size models."""
    points = 2 * params.model.max_points
    finetune = params.finetune
    short = 2 * finetune.train.curriculum.points_end
    ks = finetune.fixed_coefficients
    return {
        "evaluate_pretrain": [(1, params.evaluate.num_sequences, 2 * params.evaluate.points)],
        "evaluate_clamping": [(len(params.clamping.degrees), params.clamping.num_sequences, points)],
        # aligned and pretrained models, each with a clamped and an unclamped context
        "evaluate_align": [(4, params.evaluate_align.num_sequences, points)],
        # the main and the paper's setting: aligned and pretrained; the N(0, 1) ablation: aligned
        "jailbreak": [(5, params.jailbreak.queries, 2 * max(params.jailbreak.contexts))],
        # per setup of align_setups: ours and the setup's aligned model, the paper's condition
        "jailbreak_setup": [(2, params.jailbreak.queries, 2 * max(params.jailbreak.contexts))]
        * len(params.align_setups),
        # every rate of the sweep and the untouched model
        "evaluate_soft_prompt_sweep": [(len(finetune.sweep_lrs) + 1, finetune.num_sequences, short)],
        # every method for every k, the best-rate prompt on its k, the untouched model where k > 0
        # (its k = 0 curve is the sweep's)
        "evaluate_finetune": [
            (len(finetune.methods) * len(ks) + 1 + sum(k > 0 for k in ks), finetune.num_sequences, short)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peak", type=float, help="matmul peak in GFLOP/s instead of measuring it")
    args = parser.parse_args()
    params = load_params(ROOT / "params.yaml")
    torch.set_num_threads(params.threads)
    peak = args.peak * 1e9 if args.peak else matmul_peak()
    n_embd, n_layer = params.model.n_embd, params.model.n_layer
    total_tokens = total_flops = 0.0
    print(
        "| stage | model passes x sequences x tokens | tokens (M) | TFLOP | seconds at the peak |\n"
        "|---|---|---|---|---|"
    )
    for stage, parts in passes(params).items():
        tokens = sum(p * n * t for p, n, t in parts)
        flops = sum(p * n * forward_flops(n_embd, n_layer, t) for p, n, t in parts)
        total_tokens, total_flops = total_tokens + tokens, total_flops + flops
        shapes = " + ".join(f"{p} x {n:,} x {t}" for p, n, t in parts)
        print(f"| {stage} | {shapes} | {tokens / 1e6:.1f} | {flops / 1e12:.1f} | {flops / peak:.0f} |")
    print(f"| total | | {total_tokens / 1e6:.1f} | {total_flops / 1e12:.1f} | {total_flops / peak:.0f} |")
    source = "given" if args.peak else f"measured, {params.threads} threads"
    print(
        f"\nmatmul peak ({source}): {peak / 1e9:.0f} GFLOP/s; lower bound of the evaluation stages: "
        f"{total_flops / peak / 60:.1f} min at 100 % of it, {total_flops / peak / 0.6 / 60:.1f} min at 60 %"
    )


if __name__ == "__main__":
    main()
