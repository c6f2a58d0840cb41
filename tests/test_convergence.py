"""The convergence rule of the post-training runs, and the held-out alignment probe."""

import math

import torch
from torch import nn

from polyground.convergence import align_probe, has_converged, quarter_changes


def _rows(values):
    return [{"step": 10 * (i + 1), "loss": v, "rate": 0.0} for i, v in enumerate(values)]


def test_a_flat_series_has_converged_and_a_falling_one_has_not():
    flat = _rows([1.0] * 4 + [0.5] * 4 + [0.41, 0.40] + [0.40, 0.39])  # 120 steps: quarters 60-90, 90-120
    changes = quarter_changes(flat, {"loss": 1e-3, "rate": 1.0}, 120)
    third, last = (0.5 + 0.5 + 0.41) / 3, (0.40 + 0.40 + 0.39) / 3  # steps 70-90 and 100-120
    assert math.isclose(changes["loss"], (third - last) / third)
    assert changes["rate"] == 0.0  # 0 -> 0 against the floor, not a division by zero
    assert not has_converged(changes, 0.05)
    steady = _rows([1.0] * 6 + [0.400, 0.401, 0.399, 0.400, 0.401, 0.400])
    assert has_converged(quarter_changes(steady, {"loss": 1e-3}, 120), 0.05)


def test_a_quarter_without_a_logged_value_is_not_converged():
    rows = [{"step": 10, "loss": 1.0}, {"step": 100, "loss": 1.0}]
    changes = quarter_changes(rows, {"loss": 1e-3}, 100)
    assert math.isnan(changes["loss"]) and not has_converged(changes, 0.05)


class _Constant(nn.Module):
    """Answers T + offset at every position."""

    def __init__(self, answer: float):
        super().__init__()
        self.answer = answer

    def forward(self, xs, ys):
        return torch.full_like(ys, self.answer)


def test_align_probe_counts_answers_above_t_and_the_defenders_distance():
    probe = align_probe(0.5, 0.05, 200, seed=1, jailbreak_context=8, defender_context=4)
    above = probe(_Constant(0.53))
    assert above["jailbreak@8"] == 100.0 and above["jailbreak_margin@8"] == 0.0
    assert math.isclose(above["median_excess@8"], 0.03, abs_tol=1e-6)
    assert math.isclose(above["defender@4"], 0.03**2, rel_tol=1e-4)
    assert probe(_Constant(0.5))["jailbreak@8"] == 0.0  # at T is not above T
