import numpy as np
import torch

from polyground.baselines import least_squares, zero_predictor
from polyground.tasks import ChebyshevTask, chebyshev_eval, chebyshev_features, generator_for


def _data(degree=5, n=20, batch=16):
    """Points and exact float64 values (float32 values would be ill-conditioned noise at i = D+1)."""
    xs, _, coefficients = ChebyshevTask(degree, random_degree=False).sample(batch, n, generator_for(0, "eval"))
    xs = xs.double()
    return xs, chebyshev_eval(coefficients.double(), xs)


def test_least_squares_exact_with_enough_points():
    xs, ys = _data()
    predictions = least_squares(xs, ys, degree=5)
    # with i >= D + 1 = 6 context points the fit recovers the polynomial
    torch.testing.assert_close(predictions[:, 6:], ys[:, 6:], atol=1e-8, rtol=0)
    assert not torch.allclose(predictions[:, 3], ys[:, 3], atol=1e-3)


def test_least_squares_is_minimum_norm_when_underdetermined():
    xs, ys = _data(degree=11, n=8)
    predictions = least_squares(xs, ys, degree=11)
    features = chebyshev_features(xs, 11).numpy()
    for b in range(4):
        for i in range(1, 8):
            w = np.linalg.lstsq(features[b, :i], ys[b, :i].numpy(), rcond=None)[0]  # numpy: minimum norm
            assert np.isclose(predictions[b, i].item(), features[b, i] @ w, atol=1e-8)


def test_ridge_matches_closed_form_and_differs_from_least_squares():
    xs, ys = _data(degree=11, n=15)
    ridge = least_squares(xs, ys, degree=11, ridge=0.2)
    features = chebyshev_features(xs, 11).numpy()
    for b in range(3):
        for i in (1, 7, 14):
            a, y = features[b, :i], ys[b, :i].numpy()
            w = np.linalg.inv(a.T @ a + 0.2 * np.eye(12)) @ a.T @ y
            assert np.isclose(ridge[b, i].item(), features[b, i] @ w, atol=1e-8)
    assert not torch.allclose(ridge[:, 14], least_squares(xs, ys, degree=11)[:, 14])


def test_no_context_predicts_zero_and_zero_predictor():
    xs, ys = _data()
    assert torch.all(least_squares(xs, ys, 5)[:, 0] == 0)
    assert torch.all(zero_predictor(xs, ys) == 0)
