"""In-context clamping (Behavior I): the pieces the stage is made of."""

import pytest
import torch

from polyground.alignment import clamped_eval_set
from polyground.baselines import least_squares, zero_predictor
from polyground.config import ClampingConfig
from polyground.evaluate import beats_from, squared_errors, summarize_where
from polyground.tasks import ChebyshevTask, generator_for
from polyground.threshold import clamp


def test_beats_from_is_where_the_model_stays_below():
    assert beats_from([3, 2, 1, 0.5], [2, 2, 2, 2]) == 2
    assert beats_from([1, 3, 1, 1], [2, 2, 2, 2]) == 2  # a later crossing resets the start
    assert beats_from([3, 3], [2, 2]) is None


def test_clamped_context_and_target_are_min_of_p_and_threshold():
    xs, ys, _ = ChebyshevTask(4, random_degree=False).sample(64, 20, generator_for(0, "eval", 4))
    clamped = clamp(ys, 0.5)
    assert torch.all(clamped <= 0.5) and torch.equal(clamped[ys < 0.5], ys[ys < 0.5])
    # A degree-4 fit cannot represent the clamp where it is active: least squares on clamped data
    # is not exact with many points, which is why it is the baseline to beat.
    fitted = least_squares(xs, clamped, 4)[:, -1]
    assert (fitted - clamped[:, -1]).abs().max() > 1e-3


def test_the_papers_view_reads_the_queries_above_threshold_where_zero_scores_t_squared():
    config = ClampingConfig(num_sequences=300, threshold=0.5)
    xs, clamped, above = clamped_eval_set(config, 4, 21, 11)
    assert torch.equal(above, clamped == 0.5) and 0.05 < above.double().mean() < 0.95
    view = summarize_where(squared_errors(zero_predictor, xs, clamped, clamped), above, 0.99)
    assert view["mean"] == pytest.approx([0.25] * 21)  # the paper's zero line: T^2
    every = summarize_where(squared_errors(zero_predictor, xs, clamped, clamped), torch.ones_like(above), 0.99)
    assert min(every["mean"]) > 0.25  # over every query the zero predictor is far worse (y is large below T too)
