"""The Bayes-optimal predictor: against an independent computation, and against the baselines."""

import numpy as np
import torch

from polyground.baselines import least_squares
from polyground.bayes import BAYES_NOISE, bayes
from polyground.tasks import ChebyshevTask, chebyshev_eval, chebyshev_features, generator_for


def _class_data(task, n, batch, seed=0):
    """Points and exact float64 values of a class's sequences."""
    xs, _, coefficients = task.sample(batch, n, generator_for(seed, "eval"))
    xs = xs.double()
    return xs, chebyshev_eval(coefficients.double(), xs)


def _gp_mixture(xs, ys, blocks, fixed, noise):
    """Independent reference of the Bayes predictor, in numpy: for every position, each degree's GP
    mean k_*^T (K + noise I)^-1 z with the n x n kernel K = Phi Phi^T, weighted by N(z; 0, K + noise I)."""
    features = chebyshev_features(xs, 11).numpy()
    predictions = np.zeros(ys.shape)
    for b in range(len(xs)):
        offset = features[b, :, :fixed].sum(-1)
        z = ys[b].numpy() - offset
        for n in range(ys.shape[1]):
            scores, means = [], []
            for d in blocks:
                phi = features[b, : n + 1, fixed : fixed + d]
                kernel = phi[:n] @ phi[:n].T + noise * np.eye(n)
                alpha = np.linalg.solve(kernel, z[:n])
                means.append(phi[n] @ phi[:n].T @ alpha if n else 0.0)
                scores.append(-0.5 * z[:n] @ alpha - 0.5 * np.linalg.slogdet(kernel)[1] if n else 0.0)
            weights = np.exp(np.array(scores) - max(scores))
            predictions[b, n] = offset[n] + (weights / weights.sum()) @ np.array(means)
    return predictions


def test_bayes_matches_an_independent_gp_mixture():
    """Few points (the mixture's hard part): the n x n kernel computation agrees, for the pretraining
    prior, a capped prior, and a prior with fixed coefficients."""
    cases = [
        (ChebyshevTask(11), None, range(1, 13), 0),
        (ChebyshevTask(11), 4, range(1, 6), 0),
        (ChebyshevTask(11, fixed_coefficients=3), None, [0] * 3 + list(range(1, 10)), 3),
    ]
    for task, cap, blocks, fixed in cases:
        xs, ys = _class_data(task if cap is None else ChebyshevTask(cap), 5, 8)
        reference = _gp_mixture(xs, ys, list(blocks), fixed, BAYES_NOISE)
        np.testing.assert_allclose(bayes(xs, ys, task, degree_cap=cap).numpy(), reference, atol=1e-6, rtol=1e-6)


def test_bayes_on_a_one_degree_prior_is_that_degrees_gp_mean():
    task = ChebyshevTask(7, random_degree=False)
    xs, ys = _class_data(task, 8, 8)
    reference = _gp_mixture(xs, ys, [8], 0, BAYES_NOISE)
    np.testing.assert_allclose(bayes(xs, ys, task).numpy(), reference, atol=1e-6, rtol=1e-6)


def test_bayes_equals_least_squares_once_the_context_determines_the_polynomial():
    xs, ys = _class_data(ChebyshevTask(11), 30, 64)  # degrees 0..11: determined after 13 points
    predictions, fits = bayes(xs, ys, ChebyshevTask(11)), least_squares(xs, ys, 11)
    # one point beyond the coefficients outweighs interpolation by ~1 / noise std = 3e6, two by 1e13
    torch.testing.assert_close(predictions[:, 13], fits[:, 13], atol=1e-4, rtol=0)
    torch.testing.assert_close(predictions[:, 14:], fits[:, 14:], atol=1e-6, rtol=0)
    task = ChebyshevTask(5, random_degree=False, fixed_coefficients=2)
    xs, ys = _class_data(task, 12, 64)  # four free coefficients: determined after 4 points
    torch.testing.assert_close(bayes(xs, ys, task)[:, 4:], ys[:, 4:], atol=1e-6, rtol=0)
    assert not torch.allclose(bayes(xs, ys, task)[:, 3], ys[:, 3], atol=1e-3)


def test_bayes_is_below_least_squares_and_ridge_at_every_context_length():
    """On float32 values, as the evaluation sets hold them: least squares amplifies their rounding
    where it interpolates (12 points) and in ill-conditioned contexts; from 15 points on both are
    exact but for a few such contexts."""
    task = ChebyshevTask(11)
    xs, _, coefficients = task.sample(4000, 31, generator_for(1, "eval"))
    truth, xs = chebyshev_eval(coefficients.double(), xs.double()), xs.double()
    ys = chebyshev_eval(coefficients, xs.float()).double()
    errors = {
        name: ((predict - truth) ** 2).mean(0)
        for name, predict in (
            ("bayes", bayes(xs, ys, task)),
            ("least_squares", least_squares(xs, ys, 11)),
            ("ridge", least_squares(xs, ys, 11, ridge=0.2)),
        )
    }
    for n in range(1, 31):
        assert errors["bayes"][n] < errors["ridge"][n], n
        if n < 15:
            assert errors["bayes"][n] < errors["least_squares"][n], n
        else:
            assert errors["bayes"][n] < 1e-3 and errors["least_squares"][n] < 1e-2, n
