"""The Bayes-optimal predictor of a Chebyshev class: the lowest error any in-context learner can reach.

Predicts y_i from the i earlier pairs only, vectorised over the batch, in float64 (as the baselines).
"""

from __future__ import annotations

import math

import torch

from .tasks import ChebyshevTask, chebyshev_features

BAYES_NOISE = 1e-13  # the noise variance assumed of y: ~3x the float32 rounding of the sets' y (3.3e-14)


def bayes(xs: torch.Tensor, ys: torch.Tensor, task: ChebyshevTask, degree_cap: int | None = None) -> torch.Tensor:
    """Predictions (B, N) of the Bayes-optimal predictor of ``task``: the posterior mean of y_i given
    the i earlier pairs, the floor of any in-context learner's squared error on that class.

    Under the task's prior (degree r uniform on 0..max_degree, capped at ``degree_cap``, or fixed;
    c_0..c_{k-1} = 1 for k fixed coefficients, the other c_j ~ N(0, 1) for j <= r) each degree is a
    Gaussian process over its D free coefficients; the posterior mean is the mixture of the degrees'
    GP means, weighted by their marginal likelihoods of the context. y is noise-free in exact
    arithmetic but float32 in the data sets (rounding variance 3.3e-14 on average); every degree
    assumes a noise of variance :data:`BAYES_NOISE` (1e-13), the best of 1e-11 .. 1e-16 on 4,000
    sequences of seed 1 (bench/exploration.md): a degree that fits the context exactly with fewer
    free coefficients than points then outweighs one that merely interpolates it by ~3e6 per point
    beyond its coefficients. A smaller noise lets float32 rounding decide between degrees, a larger
    one leaves weight on wrong degrees in ill-conditioned contexts.

    Each degree's posterior is the least-squares problem [Phi; sigma I] c = [z; 0] (z: y less the
    fixed coefficients' part), solved by a QR factorisation grown one context point at a time by
    Givens rotations (the Gram matrix Phi^T Phi would square a condition number that reaches 1e7).
    Degrees nest (degree r uses the first r + 1 - k free features), and so do the triangular factor
    and the rotated targets: one factorisation serves every degree, its residual (the likelihood's
    quadratic term) a sum of squares without cancellation, its log determinant the log diagonal.
    Defined for sequences of the class only: clamped targets min(p, T) are not Gaussian given the
    context, so it is no floor for them.
    """
    x, y = xs.double(), ys.double()
    top = task.max_degree if degree_cap is None or not task.random_degree else min(degree_cap, task.max_degree)
    fixed = task.fixed_coefficients
    features = chebyshev_features(x, task.max_degree)
    offset = features[..., :fixed].sum(-1)
    z, phi = y - offset, features[..., fixed:]  # degree r uses the first r + 1 - fixed free features
    batch, length, size = phi.shape
    blocks = torch.tensor([r + 1 - fixed for r in (range(top + 1) if task.random_degree else [task.max_degree])])
    # the factorisation of the prior's rows alone: R = sigma I, rotated targets 0, residual 0
    factor = math.sqrt(BAYES_NOISE) * torch.eye(size, dtype=x.dtype).repeat(batch, 1, 1)
    rotated, residual = torch.zeros(batch, size, dtype=x.dtype), torch.zeros(batch, dtype=x.dtype)
    inside = torch.tril(torch.ones(size, size, dtype=x.dtype))  # inside[d - 1, k]: feature k is in block d
    predictions = torch.empty_like(z)
    for i in range(length):
        # each block d: c_d from R_d c_d = w_d (back substitution, every block at once; row d - 1)
        fit = torch.zeros(batch, size, size, dtype=x.dtype)
        for k in reversed(range(size)):
            known = (fit[..., k + 1 :] * factor[:, None, k, k + 1 :]).sum(-1)
            fit[..., k] = (rotated[:, None, k] - known) / factor[:, None, k, k] * inside[:, k]
        means = fit @ phi[:, i, :, None]  # (B, block, 1)
        # log N(z_<i; 0, Phi Phi^T + noise I) of each block, less the terms every block shares
        left_out = torch.flip(torch.cumsum(torch.flip(rotated**2, [-1]), -1), [-1])  # sum of w_k^2 for k >= d
        quadratic = (
            residual[:, None] + torch.cat([left_out[:, 1:], torch.zeros(batch, 1, dtype=x.dtype)], -1)
        ) / BAYES_NOISE
        log_det = torch.cumsum(torch.log(torch.diagonal(factor, dim1=-2, dim2=-1) ** 2 / BAYES_NOISE), -1)
        scores = -0.5 * (quadratic + log_det)  # (B, block d = 1..M)
        # blocks of size 0 (degrees below the fixed coefficients): the offset alone, all of z unexplained
        empty = -0.5 * (residual + (rotated**2).sum(-1)) / BAYES_NOISE
        chosen = (blocks - 1).clamp(min=0)
        block_scores = torch.where(blocks > 0, scores[:, chosen], empty[:, None])
        block_means = torch.where(blocks > 0, means[:, chosen, 0], 0.0)
        predictions[:, i] = (torch.softmax(block_scores, -1) * block_means).sum(-1)
        # add pair i to the factorisation: rotate the row [phi_i | z_i] into [R | w]
        row, target = phi[:, i].clone(), z[:, i].clone()
        for k in range(size):
            pivot, entry = factor[:, k, k], row[:, k]
            norm = torch.hypot(pivot, entry)
            cos, sin = (pivot / norm)[:, None], (entry / norm)[:, None]
            old = factor[:, k, k:].clone()
            factor[:, k, k:] = cos * old + sin * row[:, k:]
            row[:, k:] = cos * row[:, k:] - sin * old
            old_w = rotated[:, k].clone()
            rotated[:, k] = cos[:, 0] * old_w + sin[:, 0] * target
            target = cos[:, 0] * target - sin[:, 0] * old_w
        residual = residual + target**2
    return (predictions + offset).to(ys.dtype)
