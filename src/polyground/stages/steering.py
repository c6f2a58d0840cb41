"""Stage ``steering``: the alignment-helpfulness trade-off of representation engineering (Wolf et al. 2024).

A steering vector for the base model from the residual stream after block ``steering.layer``, read
at the query of ``steering.pairs`` sequences (harmful queries, seed ``steering.seed``) shown the same
points with clamped and with unclamped contexts: the direction of the mean of the paired differences
(``mean_difference``) and their first principal component (``principal_component``: centred, its
sign that of the mean difference). Both are scaled to the stream's spread, the mean norm of the
centred activations at the query (unclamped contexts): the mean difference itself is ~40x shorter,
and at that length no r of the range moves the model (docs/beyond-the-paper.md). For each r of ``steering.scales``, r
times the vector is added at every position of that layer, and the steered base model is measured
(``measurements.py``) on the shared query set (unclamped contexts): V, helpfulness, breakdown,
unclamp fraction. The aligned models (full fine-tuning and each of ``align_peft``; experiment 2)
are measured on the same set: the reference points of the front. Fitted against r (``fits.py``): the
alignment 1 - V and the helpfulness, each by a line and a parabola, compared by AIC.

Outputs ``metrics/steering.json`` and ``metrics/steering.csv`` (one row per method and r).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .. import fits
from ..checkpoint import load_checkpoint
from ..config import load_params
from ..evaluate import model_predictor
from ..files import write_json, write_rows
from ..finetune import aligned_models
from ..intervals import collect
from ..measurements import QuerySet, draw_queries, measure, setup
from ..model import InContextRegressor
from ..paths import PRETRAIN, metrics_csv, metrics_json
from . import run_stage

METRICS, TABLE = metrics_json("steering"), metrics_csv("steering")
COLUMNS = ["method", "scale", "alignment", "helpfulness", "violation", "breakdown", "unclamp"]


def block(model: InContextRegressor, layer: int) -> nn.Module:
    """The GPT-2 block whose output is the residual stream after ``layer`` blocks."""
    return model.backbone.h[layer - 1]


def query_activations(model: InContextRegressor, layer: int, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """(sequences, n_embd): the residual stream after ``layer`` blocks at each sequence's last x token."""
    captured = []
    handle = block(model, layer).register_forward_hook(lambda module, inputs, output: captured.append(output[:, -2]))
    try:
        model.eval()
        with torch.inference_mode():
            model(xs, ys)
    finally:
        handle.remove()
    return captured[0]


def steering_vectors(
    model: InContextRegressor, layer: int, pairs: QuerySet, threshold: float
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """The directions of the mean difference (clamped - unclamped context) and of the first principal
    component of the differences, each of length the stream's spread; and the lengths behind them
    (``spread``, ``mean_difference_norm``)."""
    context = pairs.xs.shape[1] - 1
    unclamped = query_activations(model, layer, pairs.xs, pairs.shown(threshold))
    differences = query_activations(model, layer, pairs.xs, pairs.shown(threshold, clamped_first=context)) - unclamped
    spread = (unclamped - unclamped.mean(0)).norm(dim=1).mean()
    mean = differences.mean(0)
    component = torch.linalg.svd(differences - mean, full_matrices=False).Vh[0]
    vectors = {
        "mean_difference": mean / mean.norm() * spread,
        "principal_component": component * torch.sign(component @ mean) * spread,
    }
    return vectors, {"spread": round(float(spread), 6), "mean_difference_norm": round(float(mean.norm()), 6)}


@contextmanager
def steered(model: InContextRegressor, layer: int, vector: torch.Tensor) -> Iterator[None]:
    """Within the block, ``vector`` is added to the residual stream after ``layer`` blocks, at every position."""
    handle = block(model, layer).register_forward_hook(lambda module, inputs, output: output + vector)
    try:
        yield
    finally:
        handle.remove()


def main() -> None:
    params = load_params()
    config = params.steering
    task, shared, threshold = setup(params)
    base, base_meta = load_checkpoint(PRETRAIN, params.model, stage="pretrain")
    aligned = aligned_models(params)
    began = time.perf_counter()
    pairs = draw_queries(task, shared.context, config.pairs, 0, threshold, shared.margin, config.seed)
    queries = draw_queries(task, shared.context, shared.harmful, shared.safe, threshold, shared.margin, shared.seed)
    shown = queries.shown(threshold)

    def measured(model: nn.Module) -> dict[str, float]:
        result = measure(
            model_predictor(model, shared.batch_size)(queries.xs, shown)[:, -1],
            queries,
            threshold,
            shared.margin,
            shared.confidence,
        )
        return {"alignment": round(1 - result["violation"] / 100, 6), **{k: round(v, 6) for k, v in result.items()}}

    vectors, lengths = steering_vectors(base, config.layer, pairs, threshold)
    rows, metrics = (
        [],
        {
            "layer": config.layer,
            "scales": config.scales,
            **lengths,
            "methods": {},
            "aligned": {name: measured(model) for name, (model, _) in aligned.items()},
        },
    )
    for method, vector in vectors.items():
        curve = []
        for scale in config.scales:
            with steered(base, config.layer, scale * vector):
                curve.append(measured(base))
            rows.append({"method": method, "scale": scale, **{c: curve[-1][c] for c in COLUMNS[2:]}})
        metrics["methods"][method] = {key: [point[key] for point in curve] for key in COLUMNS[2:]} | {
            f"{key}_fits": fits.compare(
                ["linear", "quadratic"], config.scales, [p[key] for p in curve], params.intervals
            )
            for key in ("alignment", "helpfulness")
        }
    write_rows(TABLE, COLUMNS, rows)
    metrics["checkpoint_sha256"] = {
        "pretrained": base_meta["sha256"],
        **{name: sha for name, (_, sha) in aligned.items()},
    }
    metrics["intervals"] = {"level": params.intervals.level, **collect(metrics)}
    write_json(METRICS, metrics)
    print(f"steering: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    run_stage(main)
