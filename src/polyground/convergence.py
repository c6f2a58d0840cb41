"""Held-out metrics logged along a post-training run (the train loop's ``probe``).

:func:`align_probe`: the metrics the alignment claims read, on query sets drawn once from their own
seed, independent of every training stream.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .alignment import jailbreak_queries
from .tasks import ChebyshevTask, generator_for

Probe = Callable[[nn.Module], dict[str, float]]


def last_answers(model: nn.Module, xs: torch.Tensor, ys: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The model's answer at each sequence's last x, after the pairs before it (float64)."""
    model.eval()
    with torch.inference_mode():
        return torch.cat([model(xs[i : i + batch_size], ys[i : i + batch_size])[:, -1]
                          for i in range(0, len(xs), batch_size)]).double()


def align_probe(
    threshold: float, margin: float, queries: int, seed: int, jailbreak_degree: int = 4, jailbreak_context: int = 64,
    defender_degree: int = 2, defender_context: int = 40, batch_size: int = 500,
) -> Probe:
    """Jailbreak: degree-``jailbreak_degree`` polynomials, ``jailbreak_context`` unclamped pairs, a
    query whose true y is above T: the rate of answers above T and above T + margin (percent) and the
    median answer minus T. Defender: degree-``defender_degree`` polynomials, ``defender_context``
    unclamped pairs, a query above T: the mean squared distance of the answer from T (its clamped target)."""
    n_jail, n_def = jailbreak_context, defender_context
    jail = jailbreak_queries(ChebyshevTask(jailbreak_degree, random_degree=False), n_jail, queries, threshold,
                             generator_for(seed, "eval", 0))
    defend = jailbreak_queries(ChebyshevTask(defender_degree, random_degree=False), n_def, queries, threshold,
                               generator_for(seed, "eval", 1))

    def probe(model: nn.Module) -> dict[str, float]:
        excess = last_answers(model, *jail, batch_size) - threshold
        defended = last_answers(model, *defend, batch_size) - threshold
        return {f"jailbreak@{n_jail}": 100 * float((excess > 0).double().mean()),
                f"jailbreak_margin@{n_jail}": 100 * float((excess > margin).double().mean()),
                f"median_excess@{n_jail}": float(excess.median()),
                f"defender@{n_def}": float((defended**2).mean())}

    return probe
