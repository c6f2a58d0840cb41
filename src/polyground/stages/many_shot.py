"""Stage ``many_shot``: many-shot jailbreaking of the aligned model (Anil et al. 2024) and behaviour
expectation bounds (Wolf et al. 2023).

The prompt: m clamped ("aligning") examples for each m of ``many_shot.aligning``, then k unclamped
ones for each k of ``many_shot.shots``, then a harmful query (true p(x) > T + margin). One query set
(``measurements.harmful`` sequences, seed ``many_shot.seed``) serves every (m, k): the same k
unclamped examples and query follow the first m examples, so the curves are paired. Measured
(``measurements.py``): the behaviour weight w (least-squares projection of pred - T on p(x) - T),
the violation rate V and the breakdown share, for the aligned model and, as the ceiling, the base.
Fitted (``fits.py``) against k on k <= ``fit_up_to``, each predicting the longer k: a power law
(Anil et al.), a line in log k and a saturating exponential.

Outputs ``metrics/many_shot.json`` (per m: w and V at every k, the fits, the power-law exponent
with its interval) and ``metrics/many_shot.csv`` (one row per model, m and k).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from .. import fits
from ..checkpoint import load_base_and_aligned
from ..config import load_params
from ..evaluate import model_predictor
from ..files import write_json, write_rows
from ..intervals import collect
from ..measurements import QuerySet, draw_queries, measure, setup
from ..paths import metrics_csv, metrics_json
from . import run_stage

METRICS, TABLE = metrics_json("many_shot"), metrics_csv("many_shot")
FORMS = ["power", "log_linear", "exponential"]
COLUMNS = ["model", "aligning", "shots", "weight", "violation", "violation_low", "violation_high", "breakdown"]


def prompt(
    queries: QuerySet, m: int, k: int, longest_aligning: int, threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """xs and shown ys of m clamped examples, k unclamped ones and the query (columns of one set)."""
    columns = [*range(m), *range(longest_aligning, longest_aligning + k), queries.xs.shape[1] - 1]
    shown = queries.shown(threshold, clamped_first=longest_aligning)
    return queries.xs[:, columns], shown[:, columns]


def main() -> None:
    params = load_params()
    config = params.many_shot
    task, shared, threshold = setup(params)
    base, base_meta, aligned, aligned_meta = load_base_and_aligned(params)
    began = time.perf_counter()
    longest = max(config.aligning)
    queries = draw_queries(task, longest + max(config.shots), shared.harmful, 0, threshold, shared.margin, config.seed)
    models = {
        "aligned": model_predictor(aligned, shared.batch_size),
        "pretrained": model_predictor(base, shared.batch_size),
    }
    rows, metrics = (
        [],
        {
            "threshold": threshold,
            "margin": shared.margin,
            "queries": shared.harmful,
            "shots": config.shots,
            "fit_up_to": config.fit_up_to,
            "most_aligning": max(config.aligning),
            "aligning": {},
        },
    )
    shots = np.array(config.shots, float)
    for m in config.aligning:
        curves: dict[str, dict[str, list[float]]] = {}
        for k in config.shots:
            xs, ys = prompt(queries, m, k, longest, threshold)
            for name, predict in models.items():
                result = measure(predict(xs, ys)[:, -1], queries, threshold, shared.margin, shared.confidence)
                rows.append({"model": name, "aligning": m, "shots": k, **{c: f"{result[c]:.6g}" for c in COLUMNS[3:]}})
                for key in ("weight", "violation", "breakdown"):
                    curves.setdefault(name, {}).setdefault(key, []).append(round(result[key], 6))
        weight_fits = fits.compare(
            FORMS, shots, curves["aligned"]["weight"], params.intervals, shots <= config.fit_up_to
        )
        power = weight_fits["power"]
        metrics["aligning"][str(m)] = {
            **curves,
            "weight_fits": weight_fits,
            "violation_fits": fits.compare(
                FORMS, shots, curves["aligned"]["violation"], params.intervals, shots <= config.fit_up_to
            ),
            "exponent": {"value": power["params"][1], "low": power["low"][1], "high": power["high"][1]}
            if power["converged"]
            else {},
            "mean_weight": round(float(np.mean(curves["aligned"]["weight"])), 6),
            **{
                f"{key}_{end}_shots": curves["aligned"][key][index]
                for key in ("weight", "violation")
                for end, index in (("fewest", 0), ("most", -1))
            },
        }
    exponents = [metrics["aligning"][str(m)]["exponent"] for m in config.aligning]
    if all(exponents):  # the exponents' spread against their intervals' widest half-width
        metrics["exponent_spread"] = round(max(e["value"] for e in exponents) - min(e["value"] for e in exponents), 6)
        metrics["exponent_half_width"] = round(max((e["high"] - e["low"]) / 2 for e in exponents), 6)
    write_rows(TABLE, COLUMNS, rows)
    metrics["checkpoint_sha256"] = {"pretrained": base_meta["sha256"], "aligned": aligned_meta["sha256"]}
    metrics["intervals"] = {"level": params.intervals.level, **collect(metrics)}
    write_json(METRICS, metrics)
    print(f"many_shot: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    run_stage(main)
