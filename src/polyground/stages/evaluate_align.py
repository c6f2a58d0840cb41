"""Stage ``evaluate_align``: the aligned model against the base model and the baselines.

Degree-``evaluate_align.degree`` polynomials, clamped at ``align.threshold``:

* clamped regression: a clamped context, every query, target min(p(x), T); squared error at every
  context length for the aligned model, the base model, least squares of that degree fitted to the
  clamped context, and the zero predictor;
* the defender view: only the queries whose true y is above T (target T), for a clamped and an
  unclamped context; per context length the mean over those queries, with its band.

Outputs ``metrics/align.json`` (headline errors with their intervals, ``polyground.intervals``; the
fine-tuning budget), ``metrics/chunks/align.json`` (the chunk means the intervals are computed from)
and ``metrics/align/{clamped_regression,defender}.csv``.
"""

from __future__ import annotations

import math
import time

import torch

from ..alignment import check_threshold
from ..baselines import least_squares, zero_predictor
from ..checkpoint import load_base_and_aligned
from ..config import load_params
from ..evaluate import (
    for_evaluation,
    headline,
    model_predictor,
    squared_errors,
    summarize,
    summarize_where,
    write_curves,
)
from ..intervals import Book, chunk_rows, headline_chunks
from ..paths import CLAMPED_REGRESSION, DEFENDER
from ..tasks import ChebyshevTask, generator_for
from ..threshold import above, clamp
from . import run_stage


def measure(params, base, aligned, rows=None) -> tuple[dict, dict, torch.Tensor, float]:
    """On the evaluation set (its ``rows`` only, if given): the squared errors against the clamped value
    of each model with each context, those of the clamped regression (models and baselines, a clamped
    context), where the true y is above T (the defender's view), and the share of values above T."""
    config, threshold = params.evaluate_align, params.align.threshold
    task = ChebyshevTask(config.degree, random_degree=False)
    xs, ys, _ = task.sample(
        config.num_sequences, params.model.max_points, generator_for(config.seed, "eval", config.degree)
    )
    share = check_threshold(ys, threshold, "align.threshold")
    if rows is not None:
        xs, ys = xs[rows], ys[rows]
    clamped = clamp(ys, threshold)
    models = {
        "aligned": model_predictor(aligned, config.batch_size),
        "pretrained": model_predictor(base, config.batch_size),
    }
    contexts = {"clamped_context": clamped, "unclamped_context": ys}
    # one pass per model and context; each squared error is against the clamped value
    errors = {
        (name, c): squared_errors(predict, xs, context, clamped)
        for c, context in contexts.items()
        for name, predict in models.items()
    }
    baselines = {"least_squares": lambda x, y: least_squares(x, y, config.degree), "zero": zero_predictor}
    regression = {name: errors[name, "clamped_context"] for name in models}
    regression |= {name: squared_errors(p, xs, clamped, clamped) for name, p in baselines.items()}
    return errors, regression, above(ys, threshold), share


def views(params, errors: dict, regression: dict, queries_above: torch.Tensor, chunks: int) -> dict:
    """The chunk means of the clamped regression (every query) and of the defender's view."""
    examples = params.evaluate_align.headline_examples
    return {
        "clamped_regression": {n: headline_chunks(e, examples, chunks) for n, e in regression.items()},
        "defender": {f"{n}_{c}": headline_chunks(e, examples, chunks, queries_above) for (n, c), e in errors.items()},
    }


def audit(params, indices: list[int]) -> dict:
    """The chunk means of chunks ``indices``, measured again from the checkpoints (``polyground.audit``)."""
    base, _, aligned, _ = load_base_and_aligned(params)
    rows = chunk_rows(params.evaluate_align.num_sequences, params.intervals.chunks, indices)
    errors, regression, queries_above, _ = measure(params, for_evaluation(base), for_evaluation(aligned), rows)
    return views(params, errors, regression, queries_above, len(indices))


def main() -> None:
    params = load_params()
    config, threshold = params.evaluate_align, params.align.threshold
    torch.set_num_threads(params.threads)
    base, base_meta, aligned, aligned_meta = load_base_and_aligned(params)
    began = time.perf_counter()
    errors, regression_errors, queries_above, share = measure(params, for_evaluation(base), for_evaluation(aligned))
    regression = {name: summarize(e, params.evaluate.confidence) for name, e in regression_errors.items()}
    defender = {
        f"{name}_{c}": summarize_where(e, queries_above, params.evaluate.confidence) for (name, c), e in errors.items()
    }
    examples = config.headline_examples
    book = Book(params.intervals)
    book.values = views(params, errors, regression_errors, queries_above, params.intervals.chunks)
    for view in book.values:
        book.means(view)
    write_curves(CLAMPED_REGRESSION, regression)
    write_curves(DEFENDER, defender)
    metrics = {
        "threshold": threshold,
        "degree": config.degree,
        "num_sequences": config.num_sequences,
        "share_above_threshold": round(share, 6),
        "fine_tuning": {k: aligned_meta[k] for k in ("step", "sequences", "wall_s")},
        "clamped_regression": {name: headline(curve, examples) for name, curve in regression.items()},
        "defender": {
            name: {k: round(v, 6) if not math.isnan(v) else None for k, v in headline(curve, examples).items()}
            for name, curve in defender.items()
        },
        "checkpoint_sha256": {"pretrained": base_meta["sha256"], "aligned": aligned_meta["sha256"]},
    }
    book.publish(metrics, "align")
    print(f"evaluate_align: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    run_stage(main)
