"""Stage ``evaluate_model_sizes``: in-context clamping (Behavior I) across model sizes.

The paper-size base model (``models/pretrain``) and the ``model_sizes`` models
(``models/pretrain_<name>``), all trained with the same recipe and data stream, on the
degree-``clamping.sizes_degree`` clamped evaluation set of ``evaluate_clamping`` (same sequences),
with least squares of that degree and the zero predictor. The paper-size model's, least squares' and
the zero predictor's curves are ``evaluate_clamping``'s (``metrics/clamping/degree_<d>.csv``, read,
not recomputed); only the other sizes run here. Both views: every query, and the paper's (the queries
whose true y is above T, target T, as the paper's figure reads them). Outputs ``metrics/model_sizes.json``
(parameters and headline errors per size; in the paper's view also each size's fall between
``clamping.plateau_examples`` and the paper-size model minus each size, paired by sequence, with their intervals,
``polyground.intervals``), ``metrics/chunks/model_sizes.json``, ``metrics/model_sizes.csv`` and
``metrics/model_sizes_above.csv`` (the paper's view).
"""

from __future__ import annotations

import json
import time

import torch

from ..alignment import clamped_eval_set
from ..checkpoint import load_checkpoint
from ..config import load_params
from ..evaluate import (
    beats_from,
    for_evaluation,
    headline,
    model_predictor,
    read_curves,
    squared_errors,
    summarize,
    summarize_where,
    write_curves,
)
from ..intervals import Book, chunk_rows, headline_chunks
from ..model import count_parameters
from ..paths import PRETRAIN, base_model, chunks_path, clamping_curves, metrics_csv
from . import run_stage

CURVES, CURVES_ABOVE = metrics_csv("model_sizes"), metrics_csv("model_sizes_above")


def load_sizes(params) -> dict:
    """The paper-size base and the ``model_sizes`` models with their checkpoint metadata."""
    checkpoints = {"pretrain": (PRETRAIN, params.model, "pretrain")} | {
        name: (base_model(f"pretrain_{name}"), params.size_model(name), f"pretrain_size@{name}")
        for name in params.model_sizes
    }
    models = {}
    for name, (directory, expected, stage) in checkpoints.items():
        model, meta = load_checkpoint(directory, expected, stage=stage)
        models[name] = for_evaluation(model), meta
    return models


def measure(params, models: dict, rows=None) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Each of ``models``' squared errors on the clamped set (its ``rows`` only, if given), and where the
    true y is above T (the paper's view)."""
    config = params.clamping
    xs, clamped, above = clamped_eval_set(
        config, config.sizes_degree, params.model.max_points, params.pretrain.task.max_degree
    )
    if rows is not None:
        xs, clamped, above = xs[rows], clamped[rows], above[rows]
    errors = {
        name: squared_errors(model_predictor(model, config.batch_size), xs, clamped, clamped)
        for name, (model, _) in models.items()
    }
    return errors, above


def audit(params, indices: list[int]) -> dict:
    """The chunk means of chunks ``indices``, measured again from the checkpoints (``polyground.audit``):
    the paper-size model's too (stored as ``evaluate_clamping``'s)."""
    rows = chunk_rows(params.clamping.num_sequences, params.intervals.chunks, indices)
    errors, above = measure(params, load_sizes(params), rows)
    examples = params.clamping.headline_examples
    return {"paper_view": {name: headline_chunks(e, examples, len(indices), above) for name, e in errors.items()}}


def main() -> None:
    params = load_params()
    config, degree = params.clamping, params.clamping.sizes_degree
    torch.set_num_threads(params.threads)
    models = load_sizes(params)
    began = time.perf_counter()
    errors, above = measure(params, {name: m for name, m in models.items() if name != "pretrain"})
    shared = read_curves(clamping_curves(degree))
    shared_above = read_curves(clamping_curves(degree, "_above"))
    curves = (
        {"pretrain": shared["model"]}
        | {name: summarize(e, params.evaluate.confidence) for name, e in errors.items()}
        | {"least_squares": shared["least_squares"], "zero": shared["zero"]}
    )
    paper_view = (
        {"pretrain": shared_above["model"]}
        | {name: summarize_where(e, above, params.evaluate.confidence) for name, e in errors.items()}
        | {"least_squares": shared_above["least_squares"], "zero": shared_above["zero"]}
    )
    write_curves(CURVES, curves)
    write_curves(CURVES_ABOVE, paper_view)
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
    # the paper's view (queries above T, target T), with intervals; the paper-size model's chunks: evaluate_clamping's
    chunks = params.intervals.chunks
    book = Book(params.intervals)
    clamping = json.loads(chunks_path("clamping").read_text())["values"]
    book.values["paper_view"] = {"pretrain": clamping[f"degree_{degree}.paper_view"]["model"]}
    book.values["paper_view"] |= {
        name: headline_chunks(e, config.headline_examples, chunks, above) for name, e in errors.items()
    }
    metrics["paper_view"] = {name: headline(paper_view[name], config.headline_examples) for name in paper_view}
    book.means("paper_view")
    first, last = config.plateau_examples
    fall = f"mse@{first}_over_mse@{last}"
    for name in errors:  # each size's fall between the plateau's positions, paired by sequence: a plateau falls little
        metrics["paper_view"][name][fall] = round(paper_view[name]["mean"][first] / paper_view[name]["mean"][last], 6)
        book.interval(
            f"paper_view.{name}.{fall}",
            "ratio",
            ("paper_view", name, f"mse@{first}"),
            ("paper_view", name, f"mse@{last}"),
        )
        metrics["paper_view"][f"pretrain_minus_{name}"] = book.paired(("paper_view",), "pretrain", name, "difference")
    book.publish(metrics, "model_sizes")
    print(f"evaluate_model_sizes: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    run_stage(main)
