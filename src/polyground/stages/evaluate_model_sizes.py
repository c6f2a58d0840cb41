"""Stage ``evaluate_model_sizes``: in-context clamping (Behavior I) across model sizes.

The paper-size base model (``models/pretrain``) and the ``model_sizes`` models
(``models/pretrain_<name>``), all trained with the same recipe and data stream, on the
degree-``clamping.sizes_degree`` clamped evaluation set of ``evaluate_clamping`` (same sequences),
with least squares of that degree and the zero predictor. The paper-size model's, least squares' and
the zero predictor's curves are ``evaluate_clamping``'s (``metrics/clamping/degree_<d>.csv``, read,
not recomputed); only the other sizes run here. Outputs ``metrics/model_sizes.json`` (parameters and
headline errors per size) and ``metrics/model_sizes.csv``.
"""

from __future__ import annotations

import time

import torch

from ..alignment import beats_from, clamped_eval_set
from ..checkpoint import load_checkpoint
from ..config import load_params
from ..evaluate import for_evaluation, headline, model_predictor, read_curves, squared_errors, summarize, write_curves
from ..files import write_json
from ..model import count_parameters
from ..paths import CLAMPING_CURVES
from . import run_stage

METRICS, CURVES = "metrics/model_sizes.json", "metrics/model_sizes.csv"


def main() -> None:
    params = load_params()
    config, degree = params.clamping, params.clamping.sizes_degree
    torch.set_num_threads(params.threads)
    checkpoints = {"pretrain": ("models/pretrain", params.model, "pretrain")} | {
        name: (f"models/pretrain_{name}", params.size_model(name), f"pretrain_size@{name}")
        for name in params.model_sizes
    }
    models = {}
    for name, (directory, expected, stage) in checkpoints.items():
        model, meta = load_checkpoint(directory, expected, stage=stage)
        models[name] = for_evaluation(model), meta
    began = time.perf_counter()
    xs, clamped, _ = clamped_eval_set(config, degree, params.model.max_points, params.pretrain.task.max_degree)
    shared = read_curves(CLAMPING_CURVES / f"degree_{degree}.csv")
    curves = (
        {"pretrain": shared["model"]}
        | {
            name: summarize(
                squared_errors(model_predictor(model, config.batch_size), xs, clamped, clamped),
                params.evaluate.confidence,
            )
            for name, (model, _) in models.items()
            if name != "pretrain"
        }
        | {"least_squares": shared["least_squares"], "zero": shared["zero"]}
    )
    write_curves(CURVES, curves)
    metrics = {"degree": degree, "threshold": config.threshold, "num_sequences": config.num_sequences}
    for name, (model, meta) in models.items():
        metrics[name] = {
            "parameters": count_parameters(model, trainable_only=False),
            "model": meta["model"],
            **headline(curves[name], config.headline_examples),
            "beats_zero_from": beats_from(curves[name]["mean"], curves["zero"]["mean"]),
            "checkpoint_sha256": meta["sha256"],
        }
    for name in ("least_squares", "zero"):
        metrics[name] = headline(curves[name], config.headline_examples)
    write_json(METRICS, metrics)
    print(f"evaluate_model_sizes: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    run_stage(main)
