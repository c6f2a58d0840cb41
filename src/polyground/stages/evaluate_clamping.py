"""Stage ``evaluate_clamping``: in-context clamping (Behavior I) by the pretrained model.

The base model never saw clamped values. Shown a context of clamped pairs (x, min(p(x), T)) of a
degree-d polynomial, it predicts the clamped value at the next x. For each degree of
``clamping.degrees``: squared error against min(p(x), T) at every context length 0..max_points-1
(one causal pass over max_points-point sequences), for the model, least squares of degree d fitted
to the clamped context, and the zero predictor; mean and band over ``num_sequences`` sequences. The
paper's view: the same errors on the queries whose true y is above T only (target T, where the zero
predictor's error is T^2), as the paper's in-context clamping figure reads them.

The clamping picture: one degree-``picture_degree`` polynomial (the first from ``picture_seed``
whose clamp is active on 30-70% of [-1, 1], so that both regimes show), ``picture_context``
clamped points, and the model queried at every x of a dense grid with that context fixed.

Outputs: ``metrics/clamping.json`` (headline errors per degree in both views with their intervals,
``polyground.intervals``, and where the model first beats the zero predictor for good),
``metrics/chunks/clamping.json`` (the chunk means the intervals are computed from),
``metrics/clamping/degree_<d>.csv`` (curves, every query), ``metrics/clamping/degree_<d>_above.csv``
(curves, the paper's view) and ``metrics/clamping/picture.csv``.
"""

from __future__ import annotations

import time

import torch

from ..alignment import clamped_eval_set
from ..baselines import least_squares, zero_predictor
from ..checkpoint import load_checkpoint
from ..config import load_params
from ..evaluate import (
    beats_from,
    for_evaluation,
    headline,
    model_predictor,
    squared_errors,
    summarize,
    summarize_where,
    write_curves,
)
from ..files import write_rows
from ..intervals import Book, chunk_rows, headline_chunks
from ..paths import CLAMPING_PICTURE, PRETRAIN, clamping_curves
from ..tasks import ChebyshevTask, chebyshev_eval, generator_for
from ..threshold import above, clamp
from . import run_stage


def picture_rows(model, config) -> list[dict]:
    """The model's prediction at each grid x given one fixed clamped context."""
    task = ChebyshevTask(config.picture_degree, random_degree=False)
    grid = torch.linspace(-1, 1, config.picture_grid)
    for attempt in range(1000):
        generator = generator_for(config.picture_seed, "figure", attempt)
        xs, ys, coefficients = task.sample(1, config.picture_context, generator)
        truth = chebyshev_eval(coefficients, grid[None])[0]
        if 0.3 <= float(above(truth, config.threshold).double().mean()) <= 0.7:
            break
    context_y = clamp(ys, config.threshold)
    queries_x = torch.cat([xs.expand(len(grid), -1), grid[:, None]], dim=1)
    queries_y = torch.cat([context_y.expand(len(grid), -1), torch.zeros(len(grid), 1)], dim=1)
    predicted = model_predictor(model, len(grid))(queries_x, queries_y)[:, -1]
    fitted = least_squares(queries_x, queries_y, config.picture_degree)[:, -1]
    clamped = clamp(truth, config.threshold)
    rows = [
        {
            "kind": "grid",
            "x": float(x),
            "p": float(p),
            "clamped": float(c),
            "model": float(m),
            "least_squares": float(f),
        }
        for x, p, c, m, f in zip(grid, truth, clamped, predicted, fitted)
    ]
    rows += [{"kind": "context", "x": float(x), "clamped": float(y)} for x, y in zip(xs[0], context_y[0])]
    return rows


def measure(params, model, degree: int, rows=None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Each method's squared errors on the clamped degree-``degree`` set (its ``rows`` only, if given),
    and where the true y is above T (the paper's view)."""
    config = params.clamping
    xs, clamped, above = clamped_eval_set(config, degree, params.model.max_points, params.pretrain.task.max_degree)
    if rows is not None:
        xs, clamped, above = xs[rows], clamped[rows], above[rows]
    predictors = {
        "model": model_predictor(model, config.batch_size),
        "least_squares": lambda x, y: least_squares(x, y, degree),
        "zero": zero_predictor,
    }
    return {name: squared_errors(p, xs, clamped, clamped) for name, p in predictors.items()}, above


def views(params, degree: int, errors: dict[str, torch.Tensor], above: torch.Tensor, chunks: int) -> dict:
    """The chunk means of every method over all queries and over the paper's view (queries above T)."""
    examples = params.clamping.headline_examples
    return {
        f"degree_{degree}": {name: headline_chunks(e, examples, chunks) for name, e in errors.items()},
        f"degree_{degree}.paper_view": {
            name: headline_chunks(e, examples, chunks, above) for name, e in errors.items()
        },
    }


def audit(params, indices: list[int]) -> dict:
    """The chunk means of chunks ``indices``, measured again from the checkpoint (``polyground.audit``)."""
    model = for_evaluation(load_checkpoint(PRETRAIN, params.model, stage="pretrain")[0])
    rows = chunk_rows(params.clamping.num_sequences, params.intervals.chunks, indices)
    found = {}
    for degree in params.clamping.degrees:
        found |= views(params, degree, *measure(params, model, degree, rows), len(indices))
    return found


def main() -> None:
    params = load_params()
    config = params.clamping
    torch.set_num_threads(params.threads)
    model, meta = load_checkpoint(PRETRAIN, params.model, stage="pretrain")
    model = for_evaluation(model)
    began = time.perf_counter()
    metrics: dict = {
        "threshold": config.threshold,
        "num_sequences": config.num_sequences,
        "points": params.model.max_points,
        "checkpoint_sha256": meta["sha256"],
    }
    book = Book(params.intervals)
    for degree in config.degrees:
        errors, above = measure(params, model, degree)
        curves = {name: summarize(e, params.evaluate.confidence) for name, e in errors.items()}
        paper_view = {name: summarize_where(e, above, params.evaluate.confidence) for name, e in errors.items()}
        write_curves(clamping_curves(degree), curves)
        write_curves(clamping_curves(degree, "_above"), paper_view)
        found = views(params, degree, errors, above, params.intervals.chunks)
        book.values |= found
        for view in found:
            book.means(view)
        metrics[f"degree_{degree}"] = {
            **{name: headline(curve, config.headline_examples) for name, curve in curves.items()},
            "model_beats_zero_from": beats_from(curves["model"]["mean"], curves["zero"]["mean"]),
            "share_clamped": round(float(above.double().mean()), 6),
            "paper_view": {name: headline(curve, config.headline_examples) for name, curve in paper_view.items()}
            | {"model_beats_zero_from": beats_from(paper_view["model"]["mean"], paper_view["zero"]["mean"])},
        }
    rows = [{k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()} for r in picture_rows(model, config)]
    write_rows(CLAMPING_PICTURE, ["kind", "x", "p", "clamped", "model", "least_squares"], rows)
    book.publish(metrics, "clamping")
    print(f"evaluate_clamping: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    run_stage(main)
