"""The evaluation forward pass against the hardware: tokens/s, GFLOP/s and the fraction of the measured
fp32 matmul peak, for the evaluations' shapes, side by side in one run (medians of repeated passes).

    python bench/forward.py [--repeats 5] [--json bench/forward.json]
    python bench/forward.py --profile   # where the eager forward's time goes, and what for_evaluation moves

Shapes: the paper-size model (params.yaml), inference mode, ``threads`` threads; 81 points (every
81-point evaluation), 31 points (fine-tuning evaluations), and 31 points behind a 50-pair soft prompt.
Variants: the trained model eager (GPT-2's ``gelu_new``) at batch 500 (the evaluations' former batch)
and 64; the evaluation stages' model (``for_evaluation``: the fused tanh GELU) at batch 64 and 128;
compiled (``torch.compile``, dynamic shapes; needs a C++ compiler) at batch 64. FLOPs are analytic: 2 x the matmul
parameters per token plus the causal attention (2 x 2 x n_layer x n_embd x tokens / 2 per token).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from polyground.checkpoint import build_model  # noqa: E402
from polyground.config import load_params  # noqa: E402
from polyground.evaluate import for_evaluation  # noqa: E402
from timing import matmul_peak, median_seconds  # noqa: E402  (bench/, the script's folder)

SHAPES = {"81 points": (81, 0), "31 points": (31, 0), "31 points + 50-pair prompt": (31, 100)}
VARIANTS = [
    ("eager, gelu_new", 500, "trained"),
    ("eager, gelu_new", 64, "trained"),
    ("for_evaluation", 64, "evaluation"),
    ("for_evaluation", 128, "evaluation"),
    ("compiled, gelu_new", 64, "compiled"),
]


def forward_flops(n_embd: int, n_layer: int, tokens: int) -> float:
    """Analytic FLOPs of one sequence's forward pass of ``tokens`` tokens (module docstring)."""
    matmul = 12 * n_layer * n_embd**2 + 2 * n_embd
    return tokens * (2 * matmul + 2 * n_layer * n_embd * tokens)


def profile(params) -> None:
    """Self CPU time per operator of the trained model's forward (81 points, batch 64), and the
    largest change for_evaluation makes to its predictions."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiler

    torch.set_num_threads(params.threads)
    torch.manual_seed(0)
    model = build_model(params.model).eval()
    xs, ys = torch.rand(64, 81) * 2 - 1, torch.randn(64, 81)
    with torch.inference_mode():
        before = model(xs, ys)
        with profiler(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(3):
                model(xs, ys)
        after = for_evaluation(model)(xs, ys)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    print(f"for_evaluation: largest change of a prediction {float((after - before).abs().max()):.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sequences", type=int, default=1000, help="sequences per timed pass")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--profile", action="store_true", help="torch.profiler table (81 points, batch 64) and exit")
    args = parser.parse_args()
    if args.profile:
        return profile(load_params(ROOT / "params.yaml"))
    params = load_params(ROOT / "params.yaml")
    torch.set_num_threads(params.threads)
    peak = matmul_peak()
    model = build_model(params.model).eval()
    backbones = {
        "trained": model.backbone,
        "evaluation": for_evaluation(copy.deepcopy(model)).backbone,
        "compiled": torch.compile(model.backbone, dynamic=True),
    }
    rows = []
    for shape, (points, prompt) in SHAPES.items():
        tokens = 2 * points + prompt
        embeds = torch.randn(args.sequences, tokens, params.model.n_embd)
        for name, batch, kind in VARIANTS:
            backbone = backbones[kind]

            def run() -> None:
                with torch.inference_mode():
                    for i in range(0, args.sequences, batch):
                        backbone(inputs_embeds=embeds[i : i + batch])

            seconds = median_seconds(run, args.repeats)
            flops = args.sequences * forward_flops(params.model.n_embd, params.model.n_layer, tokens)
            rows.append(
                {
                    "shape": shape,
                    "variant": name,
                    "batch": batch,
                    "tokens/s": round(args.sequences * tokens / seconds),
                    "GFLOP/s": round(flops / seconds / 1e9, 1),
                    "fraction of peak": f"{flops / seconds / peak:.0%}",
                }
            )
            print(" | ".join(str(v) for v in rows[-1].values()), flush=True)
    print(f"\nmatmul peak ({params.threads} threads): {peak / 1e9:.0f} GFLOP/s")
    print("| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(str(v) for v in row.values()) + " |")
    if args.json:
        args.json.write_text(
            json.dumps({"peak_flop_per_s": peak, "threads": params.threads, "rows": rows}, indent=1) + "\n"
        )


if __name__ == "__main__":
    main()
