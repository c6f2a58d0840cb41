"""Function classes: Chebyshev polynomials of the first kind, in the paper's parameterisation.

p(x) = sum_k c_k T_k(x), c_k ~ N(0, 1) i.i.d., x ~ Uniform[-1, 1].

* pretraining class: per sequence a degree r ~ U{0..max_degree}, c_k = 0 for k > r;
* fine-tuning class: fixed degree, c_0 .. c_{k-1} = 1 ("k fixed coefficients");
* alignment: the clamp y = min(p(x), T).

Every sample is drawn from an explicit ``torch.Generator`` made by :func:`generator_for` from
(seed, stream, step), so the data stream depends on nothing else: not on the model, not on
resumption, not on the number of processes. A generator on a CUDA device draws the sample there
(the GPU path, :mod:`polyground.fast_train`): a pure function of (seed, step) too, but another stream
than the CPU's, named "device".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

STREAMS = {"train": 0, "eval": 1, "figure": 2, "device": 3}


def generator_for(seed: int, stream: str, step: int = 0, device: str | torch.device = "cpu") -> torch.Generator:
    """A generator on ``device`` whose state is a pure function of (seed, stream, step)."""
    state = np.random.SeedSequence([seed, STREAMS[stream], step]).generate_state(2, dtype=np.uint32)
    return torch.Generator(device).manual_seed(int(state[0]) << 32 | int(state[1]))


def chebyshev_features(x: torch.Tensor, degree: int) -> torch.Tensor:
    """T_0(x) .. T_degree(x) stacked on a new last axis, by the three-term recurrence."""
    features = [torch.ones_like(x), x]
    for _ in range(2, degree + 1):
        features.append(2 * x * features[-1] - features[-2])
    return torch.stack(features[: degree + 1], dim=-1)


def chebyshev_eval(coefficients: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """p(x) for coefficients (B, D+1) and points x (B, N) -> (B, N)."""
    degree = coefficients.shape[-1] - 1
    return torch.einsum("bnd,bd->bn", chebyshev_features(x, degree), coefficients)


@dataclass(frozen=True)
class ChebyshevTask:
    """A class of Chebyshev polynomials.

    Args:
        max_degree: highest degree D (coefficients c_0..c_D).
        random_degree: draw the degree r ~ U{0..D} per sequence (pretraining class) and zero
            c_k for k > r; otherwise every sequence has degree D.
        fixed_coefficients: k, the number of leading coefficients set to 1 (fine-tuning class).
    """

    max_degree: int
    random_degree: bool = True
    fixed_coefficients: int = 0

    def __post_init__(self) -> None:
        if self.max_degree < 0:
            raise ValueError(f"max_degree must be >= 0, got {self.max_degree}")
        if not 0 <= self.fixed_coefficients <= self.max_degree + 1:
            raise ValueError(f"fixed_coefficients must be in 0..{self.max_degree + 1}, got {self.fixed_coefficients}")

    def sample_coefficients(
        self, batch_size: int, generator: torch.Generator, degree_cap: int | None = None
    ) -> torch.Tensor:
        """(batch_size, max_degree + 1) coefficients on the generator's device; ``degree_cap`` lowers
        the drawn degrees."""
        device = generator.device
        coefficients = torch.randn(batch_size, self.max_degree + 1, generator=generator, device=device)
        if self.random_degree:
            high = self.max_degree if degree_cap is None else min(degree_cap, self.max_degree)
            degrees = torch.randint(0, high + 1, (batch_size, 1), generator=generator, device=device)
            coefficients = coefficients * (torch.arange(self.max_degree + 1, device=device) <= degrees)
        coefficients[:, : self.fixed_coefficients] = 1.0
        return coefficients

    def sample(
        self, batch_size: int, n_points: int, generator: torch.Generator, degree_cap: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Draw (xs, ys, coefficients): xs, ys of shape (batch_size, n_points)."""
        coefficients = self.sample_coefficients(batch_size, generator, degree_cap)
        xs = torch.rand(batch_size, n_points, generator=generator, device=generator.device) * 2 - 1
        return xs, chebyshev_eval(coefficients, xs), coefficients
