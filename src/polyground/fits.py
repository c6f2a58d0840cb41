"""Curve fits of the phenomena beyond the paper: least squares (``scipy.optimize.curve_fit``) of a
few named forms, their parameters with t intervals, AIC, and errors on points held out of the fit.

A fit that does not converge is reported (``converged: false``, errors infinite) rather than raised:
a claim that needs it then fails.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy import optimize, stats

from .config import IntervalsConfig

Form = tuple[Callable[..., np.ndarray], Callable[[np.ndarray, np.ndarray], list[float]]]


def _span(x: np.ndarray) -> float:
    return float(np.ptp(x)) or 1.0


FORMS: dict[str, Form] = {  # name: (f(x, *params), initial guess from the data)
    "linear": (lambda x, a, b: a + b * x, lambda x, y: [y.mean(), 0.0]),
    "quadratic": (lambda x, a, b, c: a + b * x + c * x**2, lambda x, y: [y.mean(), 0.0, 0.0]),
    "power": (lambda x, a, b: a * np.power(x, b), lambda x, y: [max(abs(y[0]), 1e-3), 0.5]),
    "log_linear": (lambda x, a, b: a + b * np.log(x), lambda x, y: [y[0], 0.0]),
    "exponential": (  # saturating: from a at x = 0 towards c with scale t
        lambda x, a, c, t: c + (a - c) * np.exp(-x / t),
        lambda x, y: [y[0], y[-1], _span(x) / 4],
    ),
    "two_phase": (  # a fast and a slow saturating phase
        lambda x, a, c, b, t1, t2: c + (a - c - b) * np.exp(-x / t1) + b * np.exp(-x / t2),
        lambda x, y: [y[0], y[-1], (y[-1] - y[0]) / -2, _span(x) / 50, _span(x) / 2],
    ),
    "logistic": (  # in log x: from 0 to c, midpoint exp(m), width s
        lambda x, c, m, s: c / (1 + np.exp(-(np.log(x) - m) / s)),
        lambda x, y: [y.max() or 1.0, float(np.log(x).mean()), 1.0],
    ),
}


def fit(form: str, x, y, confidence: float = 0.95) -> dict:
    """Least-squares fit of ``form`` to (x, y): parameters, their ``confidence`` intervals, the
    residual sum of squares and AIC (Gaussian errors: n log(RSS / n) + 2 k)."""
    function, guess = FORMS[form]
    x, y = np.asarray(x, float), np.asarray(y, float)
    try:
        with warnings.catch_warnings():  # an inestimable covariance gives infinite intervals, said in the result
            warnings.simplefilter("ignore")
            params, covariance = optimize.curve_fit(function, x, y, p0=guess(x, y), maxfev=20000)
    except (RuntimeError, ValueError, TypeError):  # no convergence; fewer points than parameters
        return {"form": form, "converged": False, "params": [], "rss": math.inf, "aic": math.inf}
    residuals = y - function(x, *params)
    rss, n, k = float(residuals @ residuals), len(x), len(params)
    dof = max(n - k, 1)
    half = stats.t.ppf(0.5 + confidence / 2, dof) * np.sqrt(np.clip(np.diag(covariance), 0, None))
    return {
        "form": form,
        "converged": bool(np.isfinite(rss)),
        "params": params.tolist(),
        "low": (params - half).tolist(),
        "high": (params + half).tolist(),
        "rss": rss,
        "aic": n * math.log(max(rss, 1e-300) / n) + 2 * k,
    }


def predict(result: dict, x) -> np.ndarray:
    """The fitted curve at ``x`` (infinite where the fit did not converge)."""
    x = np.asarray(x, float)
    if not result["converged"]:
        return np.full(x.shape, math.inf)
    return FORMS[result["form"]][0](x, *result["params"])


def held_out_errors(form: str, x, y, fitted=None) -> np.ndarray:
    """The errors on the points not in ``fitted`` (a boolean mask) of a fit to those in it; without
    ``fitted``, each point's error predicted by a fit to all the others (leave-one-out)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if fitted is None:
        return np.array([held_out_errors(form, x, y, np.arange(len(x)) != i)[0] for i in range(len(x))])
    fitted = np.asarray(fitted, bool)
    return predict(fit(form, x[fitted], y[fitted]), x[~fitted]) - y[~fitted]


def rmse(errors) -> float:
    return float(np.sqrt(np.mean(np.square(errors))))


def rmse_interval(errors: np.ndarray, config: IntervalsConfig) -> list[float]:
    """The ``config.level`` percentile-bootstrap interval of the root mean squared error over the
    held-out points (resampled; a seeded generator). Few points give a wide interval, as they should;
    a failed fit's is infinite."""
    if not np.all(np.isfinite(errors)):
        return [math.inf, math.inf]
    resampled = np.random.default_rng(config.seed).choice(errors, size=(config.resamples, len(errors)))
    low, high = np.quantile(np.sqrt(np.mean(resampled**2, axis=1)), [(1 - config.level) / 2, (1 + config.level) / 2])
    return [_round(float(low)), _round(float(high))]


def compare(forms: list[str], x, y, config: IntervalsConfig, fitted=None) -> dict[str, dict]:
    """Each form's fit to all points and its held-out error with its interval (``held_out_rmse`` and
    ``held_out_rmse_interval``, :func:`rmse_interval`): on the points outside ``fitted`` if given
    (extrapolation), else leave-one-out. Rounded for the metrics files."""
    results = {}
    for form in forms:
        result = fit(form, x, y)
        errors = held_out_errors(form, x, y, fitted)
        results[form] = {
            **{k: _round(v) for k, v in result.items()},
            "held_out_rmse": _round(rmse(errors)),
            "held_out_rmse_interval": rmse_interval(errors, config),
        }
    return results


def _round(value):
    if isinstance(value, list):
        return [_round(v) for v in value]
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else value  # JSON Infinity: a failed fit
    return value


def log2_fit(contexts: list[int], rates: list[float], confidence: float) -> dict[str, float]:
    """Least-squares line rate = intercept + slope * log2(n); slope in percentage points per
    doubling of the context, with its ``confidence`` interval (t distribution, n - 2 dof)."""
    fit = stats.linregress([math.log2(n) for n in contexts], rates)
    half = stats.t.ppf(0.5 + confidence / 2, len(contexts) - 2) * fit.stderr
    return {
        "slope": fit.slope,
        "slope_low": fit.slope - half,
        "slope_high": fit.slope + half,
        "intercept": fit.intercept,
        "r": fit.rvalue,
    }
