"""The gradient noise scale of a checkpoint (McCandlish et al. 2018, "An empirical model of large-batch
training", appendix A): from squared gradient norms at a small batch b and a large batch B,
|G|^2 = (B |G_B|^2 - b |G_b|^2) / (B - b) and tr(Sigma) = (|G_b|^2 - |G_B|^2) / (1/b - 1/B); the
simple noise scale B_simple = tr(Sigma) / |G|^2 is the batch size above which a larger batch stops
buying proportionally fewer steps. Gradients of the recipe's loss on the recipe's data (every degree,
31 points; seed 5, not the training stream), averaged over SMALL batches of b and LARGE of B.

    python bench/noise_scale.py CHECKPOINT [CHECKPOINT ...] [--b 32] [--B 1024] [--small 32] [--large 4]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

from polyground.checkpoint import load_checkpoint  # noqa: E402
from polyground.tasks import ChebyshevTask, generator_for  # noqa: E402


def squared_gradient_norm(model: torch.nn.Module, xs: torch.Tensor, ys: torch.Tensor) -> float:
    model.zero_grad(set_to_none=True)
    torch.nn.functional.mse_loss(model(xs, ys), ys).backward()
    return sum(float((p.grad.double() ** 2).sum()) for p in model.parameters() if p.grad is not None)


def noise_scale(directory: str, small: int, large: int, b: int, big: int) -> dict[str, float]:
    model, meta = load_checkpoint(directory)
    model.train()
    task, draw = ChebyshevTask(11), 0

    def mean_norm(size: int, count: int) -> float:
        nonlocal draw
        total = 0.0
        for _ in range(count):
            xs, ys, _ = task.sample(size, 31, generator_for(5, "figure", draw))
            draw += 1
            total += squared_gradient_norm(model, xs, ys)
        return total / count

    g_small, g_large = mean_norm(b, small), mean_norm(big, large)
    signal = (big * g_large - b * g_small) / (big - b)
    noise = (g_small - g_large) / (1 / b - 1 / big)
    return {"step": meta.get("step"), "G2": signal, "trace_sigma": noise, "B_simple": noise / signal}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--b", type=int, default=32)
    parser.add_argument("--B", type=int, default=1024)
    parser.add_argument("--small", type=int, default=32)
    parser.add_argument("--large", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(2)
    print("| checkpoint | step | |G|^2 | tr(Sigma) | B_simple |\n|---|---|---|---|---|")
    for directory in args.checkpoints:
        r = noise_scale(directory, args.small, args.large, args.b, args.B)
        print(
            f"| {directory} | {r['step']} | {r['G2']:.3g} | {r['trace_sigma']:.3g} | {r['B_simple']:.0f} |", flush=True
        )


if __name__ == "__main__":
    main()
