"""Baselines: least squares and ridge on Chebyshev features, and the zero predictor.

Each predicts y_i from the i earlier pairs only, vectorised over the batch, in float64.
"""

from __future__ import annotations

import torch

from .tasks import chebyshev_features


def least_squares(xs: torch.Tensor, ys: torch.Tensor, degree: int, ridge: float = 0.0) -> torch.Tensor:
    """Predictions (B, N) of a degree-``degree`` Chebyshev fit to the preceding context.

    With ``ridge == 0`` this is ordinary least squares; when the context has fewer points than
    coefficients the minimum-norm solution is taken (SVD-based ``gelsd``); with more, QR (``gels``),
    which assumes full column rank (x drawn from a continuous distribution: almost surely). With ``ridge > 0`` it is
    a real ridge regression, w = (A^T A + ridge I)^-1 A^T b, with A^T A and A^T b grown by one
    point per position rather than rebuilt. (The original alignment code's
    "ridge" baseline silently ignored its ridge value and so was plain least squares.) With no
    context (i = 0) the prediction is 0.
    """
    features = chebyshev_features(xs.double(), degree)
    targets = ys.double()
    predictions = torch.zeros_like(targets)
    gram = ridge * torch.eye(degree + 1, dtype=torch.float64).expand(len(xs), -1, -1)  # A^T A + ridge I
    moment = torch.zeros(len(xs), degree + 1, 1, dtype=torch.float64)  # A^T b
    for i in range(1, xs.shape[1]):
        a, b = features[:, :i], targets[:, :i, None]
        if ridge > 0:
            point = features[:, i - 1, :, None]
            gram = gram + point @ point.mT
            moment = moment + point * targets[:, i - 1, None, None]
            weights = torch.linalg.solve(gram, moment)
        elif i <= degree:  # under-determined: the minimum-norm solution
            weights = torch.linalg.lstsq(a, b, driver="gelsd").solution
        else:  # over-determined, full rank almost surely: QR (gels), no SVD needed
            weights = torch.linalg.lstsq(a, b, driver="gels").solution
        predictions[:, i] = (features[:, i : i + 1] @ weights)[:, 0, 0]
    return predictions.to(ys.dtype)


def zero_predictor(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Always predicts 0 (its error is E[y^2]; T^2 for a clamped target above T)."""
    return torch.zeros_like(ys)
