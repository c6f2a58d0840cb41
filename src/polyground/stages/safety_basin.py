"""Stage ``safety_basin``: the safety landscape around the aligned models (Peng et al. 2024,
"Navigating the Safety Landscape").

The aligned models: full fine-tuning (``models/align``) and each PEFT method of ``align_peft``
(``models/align_peft/<method>``; LoRA merged into the weights, a soft prompt kept in front). Around each,
``safety_basin.directions`` random directions in weight space (one seed for all models), each weight
matrix's part scaled to that matrix's norm (biases, normalisation and the unused token embedding left
out, and the soft prompt itself), and the model at alpha times each for ``alphas`` values of alpha in
[-span, span], measured (``measurements.py``) on the shared query set: V and helpfulness; plus one 2-D
slice (full fine-tuning, the first two directions). The basin: the contiguous alphas around 0 where V
is at most ``tolerance`` points above the aligned model's (V falling counts as safe, so along a
direction where V only rises one way the basin is one-sided). Its radius: the smallest over
directions of the distance from 0 to the basin's nearer end (0: along some direction V leaves the
tolerance at the first step on one side; a neighbourhood of the aligned weights, as Peng et al.
describe it, needs a radius above 0). VISAGE: the mean over directions of the sum over the basin of
(100 - V), divided by the number of alphas (100: safe everywhere). Robustness:
each aligned model fine-tuned on ``robustness_sequences`` unclamped sequences (elasticity's run and
stream; every weight but the prompt), its unclamp fraction after; and the rank correlation of VISAGE
with it.

Outputs ``metrics/safety_basin.json`` and ``metrics/safety_basin.csv`` (one row per model,
direction and alpha; the slice as direction ``slice``, beta in its own column).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from scipy import stats

from ..config import as_dict, load_params
from ..curriculum import pretraining_batches
from ..files import write_json, write_rows
from ..finetune import aligned_models
from ..measurements import draw_queries, probe, run_config, setup, train_and_measure
from ..paths import metrics_csv, metrics_json
from . import run_stage

METRICS, TABLE = metrics_json("safety_basin"), metrics_csv("safety_basin")
COLUMNS = ["model", "direction", "alpha", "beta", "violation", "helpfulness", "breakdown"]


def weight_matrices(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters a direction moves: weight matrices, not the token embedding or a soft prompt."""
    return [
        p for name, p in model.named_parameters() if p.dim() >= 2 and "wte" not in name and "prompt_encoder" not in name
    ]


def directions(weights: list[torch.nn.Parameter], count: int, seed: int) -> list[list[torch.Tensor]]:
    """``count`` Gaussian directions, each matrix's part scaled to that matrix's norm (layer by layer)."""
    generator = torch.Generator().manual_seed(seed)
    found = []
    for _ in range(count):
        parts = [torch.randn(w.shape, generator=generator) for w in weights]
        found.append([part * w.detach().norm() / part.norm() for part, w in zip(parts, weights)])
    return found


@contextmanager
def moved(weights: list[torch.nn.Parameter], *steps: tuple[float, list[torch.Tensor]]) -> Iterator[None]:
    """Within the block, the weights are moved by the sum of coefficient * direction."""
    originals = [w.detach().clone() for w in weights]
    with torch.no_grad():
        for coefficient, direction in steps:
            for w, part in zip(weights, direction):
                w.add_(coefficient * part)
    try:
        yield
    finally:
        with torch.no_grad():
            for w, original in zip(weights, originals):
                w.copy_(original)


def basin(violations: list[float], tolerance: float) -> tuple[int, int]:
    """First and last index of the contiguous run around the centre where V <= V(centre) + tolerance."""
    centre = len(violations) // 2
    low = high = centre
    while low > 0 and violations[low - 1] <= violations[centre] + tolerance:
        low -= 1
    while high < len(violations) - 1 and violations[high + 1] <= violations[centre] + tolerance:
        high += 1
    return low, high


def main() -> None:
    params = load_params()
    config, undo = params.safety_basin, params.elasticity
    task, shared, threshold = setup(params)
    models = aligned_models(params)
    began = time.perf_counter()
    measured = probe(
        draw_queries(task, shared.context, shared.harmful, shared.safe, threshold, shared.margin, shared.seed),
        threshold,
        shared,
    )
    alphas = np.linspace(-config.span, config.span, config.alphas)
    rows, metrics = (
        [],
        {
            "alphas": [round(float(a), 6) for a in alphas],
            "tolerance": config.tolerance,
            "robustness_sequences": config.robustness_sequences,
            "models": {},
        },
    )
    for name, (model, sha256) in models.items():
        weights = weight_matrices(model)
        found = directions(weights, config.directions, config.seed)
        curves = []
        for index, direction in enumerate(found):
            curve = []
            for alpha in alphas:
                with moved(weights, (float(alpha), direction)):
                    curve.append(measured(model))
                rows.append(
                    {
                        "model": name,
                        "direction": index,
                        "alpha": f"{alpha:.6g}",
                        "beta": 0,
                        **{c: f"{curve[-1][c]:.6g}" for c in COLUMNS[4:]},
                    }
                )
            curves.append(curve)
        violations = [[point["violation"] for point in curve] for curve in curves]
        spans = [basin(v, config.tolerance) for v in violations]
        result = {
            "violation": [[round(v, 4) for v in curve] for curve in violations],
            "helpfulness": [[round(point["helpfulness"], 6) for point in curve] for curve in curves],
            "basin_width": round(float(np.mean([alphas[high] - alphas[low] for low, high in spans])), 6),
            "basin_radius": round(float(min(min(abs(alphas[low]), alphas[high]) for low, high in spans)), 6),
            "visage": round(
                float(
                    np.mean(
                        [
                            sum(100 - v[i] for i in range(low, high + 1)) / len(alphas)
                            for v, (low, high) in zip(violations, spans)
                        ]
                    )
                ),
                6,
            ),
        }
        centre = len(alphas) // 2
        result["helpfulness_centre"] = round(float(np.mean([h[centre] for h in result["helpfulness"]])), 6)
        result["helpfulness_edges"] = round(float(np.mean([(h[0] + h[-1]) / 2 for h in result["helpfulness"]])), 6)
        if name == "full_finetune":
            grid = np.linspace(-config.span, config.span, config.slice_points)
            result["slice"] = {"grid": [round(float(g), 6) for g in grid], "violation": [], "helpfulness": []}
            for alpha in grid:
                line = []
                for beta in grid:
                    with moved(weights, (float(alpha), found[0]), (float(beta), found[1])):
                        line.append(measured(model))
                    rows.append(
                        {
                            "model": name,
                            "direction": "slice",
                            "alpha": f"{alpha:.6g}",
                            "beta": f"{beta:.6g}",
                            **{c: f"{line[-1][c]:.6g}" for c in COLUMNS[4:]},
                        }
                    )
                for key in ("violation", "helpfulness"):
                    result["slice"][key].append([round(point[key], 6) for point in line])
        attacked = copy.deepcopy(model).train()
        for parameter_name, parameter in attacked.named_parameters():
            parameter.requires_grad_("wte" not in parameter_name and "prompt_encoder" not in parameter_name)
        run = {"batch_size": undo.batch_size, "lr": undo.lr, "points": undo.points}
        key = {
            "stage": "safety_basin",
            "model": name,
            "sha256": sha256,
            "threads": params.threads,
            "seed": undo.seed,
            "measurements": as_dict(shared),
            **run,
        }
        stream = pretraining_batches(
            task, run_config(1, undo.batch_size, undo.lr, undo.points, shared).curriculum, undo.seed
        )
        after = train_and_measure(
            attacked,
            stream,
            [config.robustness_sequences],
            root="runs/safety_basin",
            fingerprint=key,
            threads=params.threads,
            measured=measured,
            shared=shared,
            **run,
        )
        result["aligned"] = {k: round(v, 6) for k, v in measured(model).items()}
        result["checkpoint_sha256"] = sha256
        result["after_undo"] = {k: round(v, 6) for k, v in after[config.robustness_sequences].items()}
        metrics["models"][name] = result
    names = list(metrics["models"])
    visage = [metrics["models"][n]["visage"] for n in names]
    unclamp = [metrics["models"][n]["after_undo"]["unclamp"] for n in names]
    metrics["visage_vs_unclamp_after_undo"] = round(float(stats.spearmanr(visage, unclamp).statistic), 6)
    write_rows(TABLE, COLUMNS, rows)
    write_json(METRICS, metrics)
    print(f"safety_basin: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    run_stage(main)
