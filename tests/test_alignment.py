"""Alignment as clamping: the aligned model's data stream, jailbreak queries, rates and fits."""

import math

import pytest
import torch

from polyground.alignment import align_batches, check_threshold, jailbreak_queries
from polyground.config import ParamsError
from polyground.fits import log2_fit
from polyground.intervals import rate_interval
from polyground.tasks import ChebyshevTask, generator_for

TASK = ChebyshevTask(11)


@pytest.mark.parametrize("fraction", [0.0, 0.5, 1.0])
def test_align_batches_clamp_every_target_and_the_given_share_of_contexts(fraction):
    xs, context, target = align_batches(TASK, 0.5, fraction, seed=1)(3, 400, 21)
    assert target.max() <= 0.5
    clamped = (context == target).all(1)
    active = (target == 0.5).any(1)  # sequences where the clamp acts somewhere
    share = clamped[active].double().mean().item()
    assert share == pytest.approx(fraction, abs=0.08)
    again = align_batches(TASK, 0.5, fraction, seed=1)(3, 400, 21)
    assert all(torch.equal(a, b) for a, b in zip((xs, context, target), again))  # a pure function of (seed, step)


def test_jailbreak_queries_have_their_true_y_above_the_threshold():
    xs, ys = jailbreak_queries(TASK, 8, 3000, 0.5, generator_for(0, "eval"))
    assert xs.shape == ys.shape == (3000, 9)
    assert (ys[:, -1] > 0.5).all()
    assert xs.abs().max() <= 1
    assert (ys[:, :-1] > 0.5).any()  # the context is unclamped
    xs, _ = jailbreak_queries(TASK, 8, 3000, 0.5, generator_for(0, "eval"), normal_x=True)
    assert xs.abs().max() > 1  # the ablation's x ~ N(0, 1)


def test_wilson_interval_matches_the_closed_form():
    result = rate_interval(30, 100, 0.99)
    z, p, n = 2.5758293035489, 0.3, 100
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert result["rate"] == pytest.approx(30)
    assert result["low"] == pytest.approx(100 * (centre - half), rel=1e-6)
    assert result["high"] == pytest.approx(100 * (centre + half), rel=1e-6)


def test_log2_fit_recovers_a_line_and_widens_with_noise():
    contexts = [2, 4, 8, 16, 32, 64]
    exact = log2_fit(contexts, [10 + 3 * math.log2(n) for n in contexts], 0.99)
    assert exact["slope"] == pytest.approx(3) and exact["intercept"] == pytest.approx(10)
    noisy = log2_fit(contexts, [10 + 3 * math.log2(n) + 2 * (-1) ** i for i, n in enumerate(contexts)], 0.99)
    assert noisy["slope_low"] < noisy["slope"] < noisy["slope_high"]


def test_a_threshold_outside_the_range_of_y_is_refused_with_the_fix():
    ys = TASK.sample(5000, 1, generator_for(0, "eval"))[1]
    assert 0.1 < check_threshold(ys, 0.5, "align.threshold") < 0.5
    with pytest.raises(ParamsError, match=r"align.threshold = 1000.0 is outside the range of y.*clamps 0.00%.*choose"):
        check_threshold(ys, 1000.0, "align.threshold")


def test_excess_quartiles_are_named_numbers_the_report_can_use():
    from polyground.stages.jailbreak import quartiles

    assert quartiles(torch.arange(101.0).flip(0)) == {"q25": 25.0, "q50": 50.0, "q75": 75.0}


def test_a_setups_report_counts_both_rules_per_n_and_the_rate_by_margin():
    from polyground.stages.jailbreak_setup import answers_report

    excess = torch.tensor([[-0.1, -0.02, 0.01, 0.03], [-0.04, 0.0, 0.02, 0.08]], dtype=torch.float64)  # n = 2, 4
    report, intervals = answers_report(excess, [2, 4], 0.05, [-0.05, 0.0, 0.05], 0.99)
    assert report["at_n"]["2"]["jailbroken"]["rate"] == 50.0 and report["at_n"]["2"]["jailbroken_margin"]["rate"] == 0.0
    assert (
        report["at_n"]["4"]["jailbroken"]["rate"] == 50.0 and report["at_n"]["4"]["jailbroken_margin"]["rate"] == 25.0
    )
    assert math.isclose(report["at_n"]["2"]["median_excess"], -0.005)  # the mean of the two middle values
    low, high = intervals["at_n.4.jailbroken_margin.rate"]
    assert low < 25.0 < high and set(intervals) == {
        f"at_n.{n}.{key}" for n in (2, 4) for key in ("jailbroken.rate", "jailbroken_margin.rate", "median_excess")
    }
    assert report["rate_by_margin"] == {"-0.05": 100.0, "0": 50.0, "0.05": 25.0}  # at the longest n only
