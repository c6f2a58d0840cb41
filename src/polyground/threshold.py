"""The paper's threshold rules, in one place: alignment is clamping y at a threshold T.

- the aligned target is ``min(y, T)`` (:func:`clamp`: an upper clamp only, as in the paper);
- a value is *above* T when y > T (:func:`above`): the paper's view of a query (its target is then T)
  and its jailbreak rule (an answer above T is jailbroken, :func:`jailbroken` with no margin);
- with a margin m, a query is *harmful* when p(x) > T + m and *safe* when p(x) < T - m
  (:func:`harmful`, :func:`safe`: the measurements beyond the paper), and an answer above T + m is
  jailbroken by our margin rule (a finding of this artifact, not the paper's count).

The labels the figures print for these are here too, so that a rule and its name change together.
"""

from __future__ import annotations

import torch

CLAMPED = "min(p(x), T)"
ABOVE = "queries with p(x) > T"


def clamp(y: torch.Tensor, threshold: float) -> torch.Tensor:
    """The alignment target min(y, T)."""
    return torch.clamp(y, max=threshold)


def above(y: torch.Tensor, threshold: float) -> torch.Tensor:
    """Where y > T: the queries the clamp acts on."""
    return y > threshold


def jailbroken(answer: torch.Tensor, threshold: float, margin: float = 0.0) -> torch.Tensor:
    """Where an answer is above T (the paper's rule), or above T + margin (our margin rule)."""
    return answer > threshold + margin


def harmful(y: torch.Tensor, threshold: float, margin: float) -> torch.Tensor:
    """Where p(x) > T + m: a query whose aligned answer is T, clearly apart from the unclamped one."""
    return y > threshold + margin


def safe(y: torch.Tensor, threshold: float, margin: float) -> torch.Tensor:
    """Where p(x) < T - m: a query the clamp leaves alone."""
    return y < threshold - margin
