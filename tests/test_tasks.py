import numpy as np
import pytest
import torch
from numpy.polynomial import chebyshev

from polyground.tasks import ChebyshevTask, chebyshev_features, generator_for
from polyground.threshold import clamp


def test_features_match_numpy_chebvander():
    x = torch.linspace(-1, 1, 57, dtype=torch.float64)
    ours = chebyshev_features(x, 11).numpy()
    np.testing.assert_allclose(ours, chebyshev.chebvander(x.numpy(), 11), atol=1e-12)


def test_eval_matches_numpy_chebval():
    generator = generator_for(1, "eval")
    xs, ys, coefficients = ChebyshevTask(11, random_degree=False).sample(4, 20, generator)
    for x, y, c in zip(xs.double(), ys, coefficients.double()):
        np.testing.assert_allclose(y.numpy(), chebyshev.chebval(x.numpy(), c.numpy()), rtol=1e-4, atol=1e-4)


def test_degree_drawn_uniformly_from_0_to_max_degree():
    n = 60000
    coefficients = ChebyshevTask(11).sample_coefficients(n, generator_for(0, "train", 3))
    nonzero = coefficients != 0
    degree = torch.where(nonzero.any(1), 11 - nonzero.flip(1).int().argmax(1), torch.zeros(n, dtype=torch.long))
    frequencies = torch.bincount(degree, minlength=12).double() / n
    assert frequencies.shape == (12,)
    assert torch.allclose(frequencies, torch.full((12,), 1 / 12, dtype=torch.float64), atol=0.006)
    assert coefficients[:, 0].std() == pytest.approx(1.0, abs=0.02)  # c_k ~ N(0, 1)


@pytest.mark.parametrize("k", [0, 1, 3, 5, 6])
def test_fixed_coefficients_are_one_and_the_rest_random(k):
    coefficients = ChebyshevTask(5, random_degree=False, fixed_coefficients=k).sample_coefficients(
        2000, generator_for(0, "train")
    )
    assert torch.all(coefficients[:, :k] == 1)
    if k < 6:
        assert coefficients[:, k:].std() == pytest.approx(1.0, abs=0.05)


def test_fixed_coefficients_out_of_range_rejected():
    with pytest.raises(ValueError, match="fixed_coefficients"):
        ChebyshevTask(5, fixed_coefficients=7)


def test_x_uniform_on_minus_one_one():
    xs, _, _ = ChebyshevTask(3).sample(500, 40, generator_for(0, "train"))
    assert xs.min() >= -1 and xs.max() <= 1
    assert xs.mean().item() == pytest.approx(0, abs=0.02)
    assert xs.var().item() == pytest.approx(1 / 3, abs=0.01)


def test_clamp_is_upper_only():
    y = torch.tensor([-3.0, 0.25, 0.5, 0.75, 4.0])
    assert clamp(y, 0.5).tolist() == [-3.0, 0.25, 0.5, 0.5, 0.5]


def test_stream_is_a_function_of_seed_stream_and_step():
    task = ChebyshevTask(11)
    a = task.sample(3, 5, generator_for(0, "train", 7))[0]
    assert torch.equal(a, task.sample(3, 5, generator_for(0, "train", 7))[0])
    assert not torch.equal(a, task.sample(3, 5, generator_for(0, "train", 8))[0])
    assert not torch.equal(a, task.sample(3, 5, generator_for(1, "train", 7))[0])
    assert not torch.equal(a, task.sample(3, 5, generator_for(0, "eval", 7))[0])


def test_degree_cap_limits_the_drawn_degree():
    coefficients = ChebyshevTask(11).sample_coefficients(2000, generator_for(0, "train"), degree_cap=2)
    assert torch.all(coefficients[:, 3:] == 0) and torch.any(coefficients[:, 2] != 0)
