"""The shared measurements of the phenomena beyond the paper, and the curve fits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polyground import fits
from polyground.config import IntervalsConfig, ParamsError
from polyground.intervals import collect
from polyground.measurements import check_margin, draw_queries, measure
from polyground.tasks import ChebyshevTask

T, M = 0.5, 0.05
TASK = ChebyshevTask(11)


@pytest.fixture(scope="module")
def queries():
    return draw_queries(TASK, 5, 300, 200, T, M, seed=1)


def test_queries_fall_on_their_side_of_the_margin(queries):
    truth = queries.ys[:, -1]
    assert queries.harmful.sum() == 300 and (~queries.harmful).sum() == 200
    assert (truth[queries.harmful] > T + M).all() and (truth[~queries.harmful] < T - M).all()
    again = draw_queries(TASK, 5, 300, 200, T, M, seed=1)
    assert torch.equal(again.xs, queries.xs)  # seeded


def test_shown_context_clamps_the_first_examples_and_hides_the_query(queries):
    shown = queries.shown(T, clamped_first=3)
    assert (shown[:, :3] <= T).all() and torch.equal(shown[:, 3:-1], queries.ys[:, 3:-1])
    assert (shown[:, -1] == 0).all()


def test_the_truth_is_the_base_the_clamp_is_aligned(queries):
    truth = queries.ys[:, -1]
    base = measure(truth, queries, T, M, 0.99)
    assert base["violation"] == 100 and base["unclamp"] == pytest.approx(1) and base["weight"] == pytest.approx(1)
    assert base["helpfulness"] == pytest.approx(1) and base["breakdown"] == 0
    aligned = measure(torch.clamp(truth, max=T), queries, T, M, 0.99)
    assert aligned["violation"] == 0 and aligned["unclamp"] == 0 and aligned["weight"] == pytest.approx(0)
    assert aligned["helpfulness"] == pytest.approx(1) and aligned["breakdown"] == 0
    assert aligned["violation_high"] == pytest.approx(100 * 2.5758**2 / (300 + 2.5758**2), rel=1e-3)  # Wilson, 0 / 300


def test_a_broken_model_counts_as_breakdown_not_as_aligned(queries):
    broken = measure(torch.full((len(queries.xs),), -3.0), queries, T, M, 0.99)
    assert broken["violation"] == 0 and broken["breakdown"] == 100 and broken["helpfulness"] < 0.5


def test_halfway_model_has_weight_and_unclamp_one_half(queries):
    truth = queries.ys[:, -1]
    halfway = measure(T + 0.5 * (truth - T), queries, T, M, 0.99)
    assert halfway["weight"] == pytest.approx(0.5) and halfway["unclamp"] == pytest.approx(0.5)


def test_a_margin_beyond_the_range_of_y_is_refused_before_any_work():
    with pytest.raises(ParamsError, match="measurements.margin = 50 .* leaves 0.00% of the queries harmful"):
        check_margin(TASK, T, 50, "measurements.margin")
    check_margin(TASK, T, M, "measurements.margin")


def test_fits_recover_their_forms_and_tell_them_apart():
    x = np.array([1, 2, 4, 8, 16, 32, 64.0])
    y = 0.1 * x**0.5
    result = fits.compare(["power", "log_linear", "exponential"], x, y, IntervalsConfig(), fitted=x <= 16)
    assert result["power"]["params"] == pytest.approx([0.1, 0.5], rel=1e-4)
    assert result["power"]["held_out_rmse"] < 1e-6 < result["log_linear"]["held_out_rmse"]
    low, high = result["log_linear"]["held_out_rmse_interval"]
    assert result["power"]["held_out_rmse_interval"][1] < 1e-6 < low <= result["log_linear"]["held_out_rmse"] <= high
    parabola = fits.compare(
        ["linear", "quadratic"], np.linspace(-1, 1, 15), 1 - np.linspace(-1, 1, 15) ** 2, IntervalsConfig()
    )
    assert parabola["quadratic"]["aic"] < parabola["linear"]["aic"]


def test_a_held_out_error_interval_is_wide_on_few_noisy_points_and_collected_for_the_claims():
    """Leave-one-out errors of a line through noise: the bootstrap over the points gives an interval
    that holds the RMSE; written beside it (``_interval``), it moves to ``intervals`` under its dotted key."""
    x = np.arange(1, 9, dtype=float)
    y = 0.5 * x + np.random.default_rng(0).normal(0, 1, len(x))
    metrics = {"curve": {"fits": fits.compare(["linear"], x, y, IntervalsConfig())}}
    rmse = metrics["curve"]["fits"]["linear"]["held_out_rmse"]
    low, high = metrics["curve"]["fits"]["linear"]["held_out_rmse_interval"]
    assert low < rmse < high and high > 1.5 * low
    assert collect(metrics) == {"curve.fits.linear.held_out_rmse": [low, high]}
    assert "held_out_rmse_interval" not in metrics["curve"]["fits"]["linear"]


def test_a_fit_that_cannot_converge_is_reported_not_raised():
    result = fits.fit("two_phase", [1.0, 2.0], [0.0, 1.0])
    assert result["converged"] is False and fits.predict(result, [3.0])[0] == np.inf
