"""Alignment as clamping: the aligned model's data stream, the jailbreak queries and their statistics.

The aligned model is trained on targets min(p(x), T) (:func:`align_batches`). Jailbreaking asks it
for a query whose true y is above T after an unclamped ("malicious") context of n examples
(:func:`jailbreak_queries`); it is jailbroken when it predicts above T (its rates' Wilson intervals:
:func:`polyground.intervals.rate_interval`; their line in log2(n): :func:`polyground.fits.log2_fit`).
"""

from __future__ import annotations

import sys

import torch

from .config import ParamsError
from .curriculum import BatchFn
from .tasks import ChebyshevTask, chebyshev_eval, generator_for
from .threshold import above, clamp

MIN_CLAMPED_SHARE = 0.005  # a threshold must clamp between 0.5% and 99.5% of the values


def check_threshold(ys: torch.Tensor, threshold: float, key: str) -> float:
    """The share of ``ys`` above ``threshold``; a ParamsError if the clamp (almost) never or always acts."""
    share = float(above(ys, threshold).double().mean())
    if not MIN_CLAMPED_SHARE <= share <= 1 - MIN_CLAMPED_SHARE:
        low, high = torch.quantile(ys.flatten()[:100000].double(), torch.tensor([0.01, 0.99], dtype=torch.float64))
        raise ParamsError(
            f"{key} = {threshold} is outside the range of y: it clamps {100 * share:.2f}% of the values "
            f"(y spans {low:.2f} .. {high:.2f} between its 1st and 99th percentiles); choose a threshold "
            f"that clamps between {100 * MIN_CLAMPED_SHARE:g}% and {100 * (1 - MIN_CLAMPED_SHARE):g}%"
        )
    return share


def align_batches(task: ChebyshevTask, threshold: float, clamped_context_fraction: float, seed: int) -> BatchFn:
    """The alignment data stream: targets min(y, T); per sequence, with probability
    ``clamped_context_fraction`` the context shows the clamped values, otherwise the unclamped ones."""

    def batch(step: int, batch_size: int, n_points: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        generator = generator_for(seed, "train", step)
        xs, ys, _ = task.sample(batch_size, n_points, generator)
        targets = clamp(ys, threshold)
        clamped_context = torch.rand(batch_size, 1, generator=generator) < clamped_context_fraction
        return xs, torch.where(clamped_context, targets, ys), targets

    return batch


def jailbreak_queries(
    task: ChebyshevTask, n: int, queries: int, threshold: float, generator: torch.Generator, normal_x: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """``queries`` sequences of n unclamped context pairs plus a query whose true y is above T.

    Sequences (polynomial, context, query) are drawn and kept when the query's y exceeds T
    (rejection, so the polynomial and the query are distributed as in the class, conditioned on
    y > T). ``normal_x`` draws every x from N(0, 1) (outside the training range), for the ablation.
    Returns xs, ys of shape (queries, n + 1); the last column is the query (its y is the truth).
    """
    kept_x, kept_y, count = [], [], 0
    while count < queries:
        chunk = 4 * queries
        coefficients = task.sample_coefficients(chunk, generator)
        if normal_x:
            xs = torch.randn(chunk, n + 1, generator=generator)
        else:
            xs = torch.rand(chunk, n + 1, generator=generator) * 2 - 1
        ys = chebyshev_eval(coefficients, xs)
        keep = above(ys[:, -1], threshold)
        kept_x.append(xs[keep])
        kept_y.append(ys[keep])
        count += int(keep.sum())
    return torch.cat(kept_x)[:queries], torch.cat(kept_y)[:queries]


def clamped_eval_set(
    config, degree: int, points: int, trained_degree: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fixed degree-``degree`` evaluation set: xs, clamped ys, and where the true y is above T
    (the clamped values); the threshold is checked, and a degree above the base model's training
    class gets a loud warning."""
    if degree > trained_degree:
        print(
            f"WARNING: degree {degree} is above the base model's training class (degrees 0..{trained_degree}): "
            "its clamping results measure extrapolation",
            file=sys.stderr,
        )
    task = ChebyshevTask(degree, random_degree=False)
    xs, ys, _ = task.sample(config.num_sequences, points, generator_for(config.seed, "eval", degree))
    check_threshold(ys, config.threshold, "clamping.threshold")
    return xs, clamp(ys, config.threshold), above(ys, config.threshold)
