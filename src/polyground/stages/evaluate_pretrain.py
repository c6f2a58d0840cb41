"""Stage ``evaluate_pretrain``: the pretrained model against least squares, ridge, zero and the Bayes limit.

One evaluation set of ``evaluate.num_sequences`` sequences of ``evaluate.points`` points from the
fixed evaluation seed. The model is causal with absolute positions, so the first 31 positions of
an 81-point sequence are exactly a 31-point evaluation: one pass gives the paper's 31-point curve
(``plot_points``) and the 81-point one.

``bayes`` is the Bayes-optimal predictor of the pretraining class (:func:`polyground.baselines.bayes`):
the lowest error any in-context learner can reach on these sequences.

Outputs: ``metrics/pretrain.json`` (headline errors, the model's margin over least squares, its
error over the Bayes limit's) and
``metrics/pretrain_curve.csv`` (mean and band per number of in-context examples, per method).
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
from ..files import write_json
from ..paths import PRETRAIN, PRETRAIN_CURVE
from ..tasks import ChebyshevTask
from . import run_stage

METRICS = "metrics/pretrain.json"


def main() -> None:
    params = load_params()
    config = params.evaluate
    torch.set_num_threads(params.threads)
    model, meta = load_checkpoint(PRETRAIN, params.model, stage="pretrain")
    model = for_evaluation(model)
    began = time.perf_counter()
    task = ChebyshevTask(**as_dict(params.pretrain.task))
    xs, ys = eval_sequences(task, config.num_sequences, config.points, config.seed)
    predictors = {"model": model_predictor(model, config.batch_size)}
    predictors |= baseline_predictors(config.baseline_degree, config.ridge)
    predictors["bayes"] = lambda context_xs, context_ys: bayes(context_xs, context_ys, task)
    curves = {name: summarize(squared_errors(p, xs, ys, ys), config.confidence) for name, p in predictors.items()}
    write_curves(PRETRAIN_CURVE, curves)
    first = config.headline_examples[0]
    metrics = {
        "num_sequences": config.num_sequences,
        "points": config.points,
        "checkpoint_sha256": meta["sha256"],
        **{name: headline(curve, config.headline_examples + [config.points - 1]) for name, curve in curves.items()},
        f"model_minus_least_squares@{first}": round(
            curves["model"]["mean"][first] - curves["least_squares"]["mean"][first], 6
        ),
        "model_over_bayes": {
            f"mse@{n}": round(curves["model"]["mean"][n] / curves["bayes"]["mean"][n], 4)
            for n in config.headline_examples
            if n <= task.max_degree + 1
        },
    }
    write_json(METRICS, metrics)
    print(f"evaluate_pretrain: {time.perf_counter() - began:.0f} s, model {metrics['model']}")


if __name__ == "__main__":
    run_stage(main)
