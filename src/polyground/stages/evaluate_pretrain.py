"""Stage ``evaluate_pretrain``: the pretrained model against least squares, ridge, zero and the Bayes limit.

One evaluation set of ``evaluate.num_sequences`` sequences of ``evaluate.points`` points from the
fixed evaluation seed. The model is causal with absolute positions, so the first 31 positions of
an 81-point sequence are exactly a 31-point evaluation: one pass gives the paper's 31-point curve
(``plot_points``) and the 81-point one.

``bayes`` is the Bayes-optimal predictor of the pretraining class (:func:`polyground.bayes.bayes`):
the lowest error any in-context learner can reach on these sequences.

Outputs: ``metrics/pretrain.json`` (headline errors; the model minus least squares and ridge, and over
the Bayes limit, paired by sequence; the fall of its error from 10 to 30 examples, paired;
medians; every value's interval, ``polyground.intervals``), ``metrics/chunks/pretrain.json``
(the chunk means every interval is computed from) and ``metrics/pretrain_curve.csv`` (mean and band
per number of in-context examples, per method).
"""

from __future__ import annotations

import time

import torch

from ..bayes import bayes
from ..checkpoint import load_checkpoint
from ..config import as_dict, load_params
from ..evaluate import (
    baseline_predictors,
    eval_sequences,
    for_evaluation,
    headline,
    model_predictor,
    squared_errors,
    summarize,
    write_curves,
)
from ..intervals import Book, chunk_rows, headline_chunks, median
from ..paths import PRETRAIN, PRETRAIN_CURVE
from ..tasks import ChebyshevTask
from . import run_stage


def measure(params, model, rows=None) -> dict[str, torch.Tensor]:
    """Each method's squared errors on the evaluation set (on its ``rows`` only, if given)."""
    config = params.evaluate
    task = ChebyshevTask(**as_dict(params.pretrain.task))
    xs, ys = eval_sequences(task, config.num_sequences, config.points, config.seed)
    if rows is not None:
        xs, ys = xs[rows], ys[rows]
    predictors = {"model": model_predictor(model, config.batch_size)}
    predictors |= baseline_predictors(config.baseline_degree, config.ridge)
    predictors["bayes"] = lambda context_xs, context_ys: bayes(context_xs, context_ys, task)
    return {name: squared_errors(p, xs, ys, ys) for name, p in predictors.items()}


def examples_of(config) -> list[int]:
    return config.headline_examples + [config.points - 1]


def audit(params, indices: list[int]) -> dict:
    """The chunk means of chunks ``indices``, measured again from the checkpoint (``polyground.audit``)."""
    model = for_evaluation(load_checkpoint(PRETRAIN, params.model, stage="pretrain")[0])
    errors = measure(params, model, chunk_rows(params.evaluate.num_sequences, params.intervals.chunks, indices))
    return {name: headline_chunks(e, examples_of(params.evaluate), len(indices)) for name, e in errors.items()}


def main() -> None:
    params = load_params()
    config = params.evaluate
    torch.set_num_threads(params.threads)
    model, meta = load_checkpoint(PRETRAIN, params.model, stage="pretrain")
    model = for_evaluation(model)
    began = time.perf_counter()
    errors = measure(params, model)
    curves = {name: summarize(e, config.confidence) for name, e in errors.items()}
    write_curves(PRETRAIN_CURVE, curves)
    examples = examples_of(config)
    book = Book(params.intervals)
    book.values = {name: headline_chunks(e, examples, params.intervals.chunks) for name, e in errors.items()}
    book.means()
    metrics = {
        "num_sequences": config.num_sequences,
        "points": config.points,
        "checkpoint_sha256": meta["sha256"],
        **{name: headline(curve, examples) for name, curve in curves.items()},
    }
    bayes_above_zero = [f"mse@{n}" for n in config.headline_examples if n <= params.pretrain.task.max_degree + 1]
    for other, kind, keys in (
        ("least_squares", "difference", None),
        ("ridge", "difference", None),
        ("bayes", "ratio", bayes_above_zero),  # the Bayes limit is 0 once the polynomial is determined
    ):
        name = f"model_{'minus' if kind == 'difference' else 'over'}_{other}"
        metrics[name] = book.paired((), "model", other, kind, keys)
    first, last = 10, 30  # the paper's fall of the error with context, paired by sequence
    fall = f"mse@{first}_over_mse@{last}"
    metrics["model"][fall] = round(curves["model"]["mean"][first] / curves["model"]["mean"][last], 6)
    book.interval(f"model.{fall}", "ratio", ("model", f"mse@{first}"), ("model", f"mse@{last}"))
    metrics["median"] = {}  # a robust statistic beside the means of heavy-tailed errors (a finding, not a claim's)
    for name in ("model", "least_squares", "ridge"):
        metrics["median"][name] = {}
        for n in examples:
            metrics["median"][name][f"mse@{n}"], book.intervals[f"median.{name}.mse@{n}"] = median(
                errors[name][:, n], params.intervals.level
            )
    book.publish(metrics, "pretrain")
    print(f"evaluate_pretrain: {time.perf_counter() - began:.0f} s, model {metrics['model']}")


if __name__ == "__main__":
    run_stage(main)
