"""Stage ``elasticity``: do models resist alignment? (Ji et al. 2024, "Language Models Resist Alignment").

For each base of ``elasticity.bases``: the base aligned on the ``align`` stream (clamped targets)
for each budget of ``elasticity.align_sequences`` (nested: one stream, runs of increasing length),
then each aligned model fine-tuned on unclamped sequences of the same class (seed
``elasticity.seed``) and measured after 0 and each budget of ``elasticity.undo_sequences``. All runs
at the constant rate ``elasticity.lr``; measured (``measurements.py``) on the shared query set
(unclamped contexts). Resumable: ``runs/elasticity/<hash>/``.

Derived, per base, with u the unclamp fraction, u_base the base's and u* that of the most aligned
model: the share of the alignment achieved after aligning with B sequences, forward(B) =
(u_base - u_align(B)) / (u_base - u*), and the share undone after undoing it with B sequences,
backward(B) = (u_undo(B) - u*) / (u_base - u*) (NaN if aligning moved nothing), their means over the
budgets both lists share; the
elasticity, backward(``compare_at``); and the undo curve fitted by a two-phase (two saturating
exponentials), a single exponential and a power law, compared by leave-one-out error (``fits.py``).

Outputs ``metrics/elasticity.json`` and ``metrics/elasticity.csv`` (one row per base, phase, budget).
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np

from .. import fits
from ..alignment import align_batches
from ..checkpoint import load_checkpoint
from ..config import as_dict, load_params
from ..curriculum import pretraining_batches
from ..files import write_json, write_rows
from ..intervals import collect
from ..measurements import draw_queries, probe, run_config, setup, train_and_measure
from ..paths import base_model, metrics_csv, metrics_json
from . import run_stage

METRICS, TABLE = metrics_json("elasticity"), metrics_csv("elasticity")
FORMS = ["two_phase", "exponential", "power"]
COLUMNS = ["base", "phase", "aligned_with", "sequences", "unclamp", "violation", "helpfulness", "breakdown"]


def share(moved: float, gap: float) -> float:
    """``moved`` as a share of ``gap``; NaN where aligning moved nothing (no share to speak of)."""
    return moved / gap if abs(gap) > 1e-9 else math.nan


def derived(base: dict, align: dict[int, dict], undo: dict[int, dict], compare_at: int, intervals) -> dict:
    """forward, backward, their means over the shared budgets, the elasticity and the undo fits (their
    held-out errors with ``intervals``' bootstrap intervals)."""
    most = max(align)
    u_base, u_star = base["unclamp"], align[most]["unclamp"]
    gap = u_base - u_star
    forward = {n: share(u_base - align[n]["unclamp"], gap) for n in align}
    backward = {n: share(undo[n]["unclamp"] - u_star, gap) for n in undo if n}
    shared = sorted(set(forward) & set(backward))
    budgets = sorted(backward)
    return {
        "alignment_gap": round(gap, 6),
        "forward": {str(n): round(v, 6) for n, v in forward.items()},
        "backward": {str(n): round(v, 6) for n, v in backward.items()},
        "shared_budgets": shared,
        "forward_mean": round(float(np.mean([forward[n] for n in shared])), 6) if shared else None,
        "backward_mean": round(float(np.mean([backward[n] for n in shared])), 6) if shared else None,
        "elasticity": round(backward[compare_at], 6),
        "undo_fits": fits.compare(FORMS, budgets, [undo[n]["unclamp"] for n in budgets], intervals),
    }


def main() -> None:
    params = load_params()
    config = params.elasticity
    task, shared, threshold = setup(params)
    sizes = {
        name: name.removeprefix("pretrain_") for name in config.bases if name not in ("pretrain", "pretrain_snapshot")
    }
    bases = {
        name: load_checkpoint(base_model(name), params.size_model(sizes[name]), stage=f"pretrain_size@{sizes[name]}")
        if name in sizes
        else load_checkpoint(base_model(name), params.model, stage=name)
        for name in config.bases
    }
    began = time.perf_counter()
    measured = probe(
        draw_queries(task, shared.context, shared.harmful, shared.safe, threshold, shared.margin, shared.seed),
        threshold,
        shared,
    )
    align_stream = align_batches(task, threshold, params.align.clamped_context_fraction, params.align.seed)
    curriculum = run_config(1, config.batch_size, config.lr, config.points, shared).curriculum
    undo_stream = pretraining_batches(task, curriculum, config.seed)
    run = {"batch_size": config.batch_size, "lr": config.lr, "points": config.points}
    rows, metrics = [], {"compare_at": config.compare_at, "bases": {}}
    for name, (base, meta) in bases.items():
        fingerprint = {
            "stage": "elasticity",
            "base_sha256": meta["sha256"],
            "threads": params.threads,
            "align": {
                "task": as_dict(params.align.task),
                "threshold": threshold,
                "seed": params.align.seed,
                "clamped_context_fraction": params.align.clamped_context_fraction,
            },
            "measurements": as_dict(shared),
            **run,
        }
        result = {"base": measured(base), "align": {}, "undo": {}}
        for n_align in config.align_sequences:
            model = copy.deepcopy(base).train()
            key = {**fingerprint, "phase": "align", "sequences": n_align}
            aligned = train_and_measure(
                model,
                align_stream,
                [n_align],
                root="runs/elasticity",
                fingerprint=key,
                threads=params.threads,
                measured=measured,
                shared=shared,
                **run,
            )[n_align]
            key = {**fingerprint, "phase": "undo", "aligned_with": n_align, "seed": config.seed}
            undone = train_and_measure(
                model,
                undo_stream,
                config.undo_sequences,
                root="runs/elasticity",
                fingerprint=key,
                threads=params.threads,
                measured=measured,
                shared=shared,
                **run,
            )
            result["align"][n_align], result["undo"][n_align] = aligned, {0: aligned, **undone}
        for phase, aligned_with, n, m in (
            [("base", 0, 0, result["base"])]
            + [("align", 0, n, m) for n, m in result["align"].items()]
            + [("undo", a, n, m) for a, curve in result["undo"].items() for n, m in curve.items()]
        ):
            rows.append(
                {
                    "base": name,
                    "phase": phase,
                    "aligned_with": aligned_with,
                    "sequences": n,
                    **{c: f"{m[c]:.6g}" for c in COLUMNS[4:]},
                }
            )
        most = max(config.align_sequences)
        metrics["bases"][name] = {
            "checkpoint_sha256": meta["sha256"],
            "base": {k: round(v, 6) for k, v in result["base"].items()},
            **derived(result["base"], result["align"], result["undo"][most], config.compare_at, params.intervals),
            "elasticity_by_alignment": {
                str(a): round(
                    share(
                        curve[config.compare_at]["unclamp"] - curve[0]["unclamp"],
                        result["base"]["unclamp"] - curve[0]["unclamp"],
                    ),
                    6,
                )
                for a, curve in result["undo"].items()
            },
        }
        # the elasticity's noise: its spread across the aligned models of the base (one training run each)
        spread = [v for v in metrics["bases"][name]["elasticity_by_alignment"].values() if math.isfinite(v)]
        metrics["bases"][name]["elasticity_interval"] = [min(spread), max(spread)] if spread else [math.nan, math.nan]
    write_rows(TABLE, COLUMNS, rows)
    metrics["intervals"] = {"level": params.intervals.level, **collect(metrics)}
    write_json(METRICS, metrics)
    print(f"elasticity: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    run_stage(main)
