"""Stage ``post_training_scaling``: is alignment only style? (Raghavendra et al. 2024, "Revisiting the
Superficial Alignment Hypothesis").

For each seed of ``post_training_scaling.seeds`` and each D of ``dataset_sizes``: a fixed set of D
sequences of the alignment stream (clamped targets, ``align``'s share of clamped contexts; drawn from
the seed), the base trained on batches drawn from it (with replacement, order from the seed) for
max(``min_steps``, ``epochs`` * D / ``batch_size``) steps at a constant rate. Measured after training
(``measurements.py``): the format, 1 - V (the clamp obeyed), and two skills, the squared error on the
safe queries and on clamped degree-``skill_degree`` regression. Resumable: ``runs/post_training_scaling/``.

Fitted against D on the means over seeds, each on D <= ``fit_up_to`` predicting the larger D
(``fits.py``): a power law, a saturating exponential and a logistic in log D, for the format gap V
and the two skill errors. The late share of each curve's total change (from D = ``fit_up_to`` to the
largest D) says which keeps improving after the format has saturated.

Outputs ``metrics/post_training_scaling.json`` and ``metrics/post_training_scaling.csv`` (one row per
seed and D).
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch

from .. import fits
from ..alignment import align_batches
from ..checkpoint import load_checkpoint
from ..config import as_dict, load_params
from ..curriculum import BatchFn
from ..evaluate import model_predictor
from ..files import write_json, write_rows
from ..intervals import collect
from ..measurements import draw_queries, probe, setup, train_and_measure
from ..paths import PRETRAIN, metrics_csv, metrics_json
from ..tasks import ChebyshevTask, generator_for
from ..threshold import clamp
from . import run_stage

METRICS, TABLE = metrics_json("post_training_scaling"), metrics_csv("post_training_scaling")
FORMS = ["power", "exponential", "logistic"]
CURVES = {
    "format_gap": "violation share V / 100",
    "safe_mse": "squared error on safe queries",
    "clamped_mse": "squared error of clamped regression",
}


def fixed_set(stream: BatchFn, size: int, points: int, seed: int) -> BatchFn:
    """The first ``size`` sequences of ``stream`` as a fixed training set; batch ``step`` is drawn
    from it with replacement by a generator of (seed, step)."""
    xs, context, target = stream(0, size, points)

    def batch(step: int, batch_size: int, n_points: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index = torch.randint(0, size, (batch_size,), generator=generator_for(seed, "train", step + 1))
        return xs[index, :n_points], context[index, :n_points], target[index, :n_points]

    return batch


def late_share(values: dict[int, float], split: int) -> float:
    """The share of a curve's change from its smallest to its largest D that comes after D = ``split``."""
    first, last = values[min(values)], values[max(values)]
    return (values[split] - last) / (first - last) if first != last else 0.0


def main() -> None:
    params = load_params()
    config = params.post_training_scaling
    task, shared, threshold = setup(params)
    base, meta = load_checkpoint(PRETRAIN, params.model, stage="pretrain")
    began = time.perf_counter()
    shared_probe = probe(
        draw_queries(task, shared.context, shared.harmful, shared.safe, threshold, shared.margin, shared.seed),
        threshold,
        shared,
    )
    skill_xs, skill_ys, _ = ChebyshevTask(config.skill_degree, random_degree=False).sample(
        config.skill_sequences, shared.context + 1, generator_for(config.skill_seed, "eval")
    )
    skill_shown = clamp(skill_ys, threshold)
    skill_shown[:, -1] = 0.0

    def measured(model: torch.nn.Module) -> dict[str, float]:
        predicted = model_predictor(model, shared.batch_size)(skill_xs, skill_shown)[:, -1]
        clamped_mse = float(((predicted - clamp(skill_ys[:, -1], threshold)) ** 2).mean())
        return {**shared_probe(model), "clamped_mse": clamped_mse}

    run = {"batch_size": config.batch_size, "lr": config.lr, "points": config.points}
    fingerprint = {
        "stage": "post_training_scaling",
        "base_sha256": meta["sha256"],
        "threads": params.threads,
        "align": {
            "task": as_dict(params.align.task),
            "threshold": threshold,
            "clamped_context_fraction": params.align.clamped_context_fraction,
        },
        "measurements": as_dict(shared),
        "skill": [config.skill_degree, config.skill_sequences, config.skill_seed],
        **run,
    }
    rows, results = [], {}
    for seed in config.seeds:
        stream = align_batches(task, threshold, params.align.clamped_context_fraction, seed)
        for size in config.dataset_sizes:
            steps = max(config.min_steps, int(np.ceil(config.epochs * size / config.batch_size)))
            key = {**fingerprint, "seed": seed, "dataset": size}
            result = train_and_measure(
                copy.deepcopy(base).train(),
                fixed_set(stream, size, config.points, seed),
                [steps * config.batch_size],
                root="runs/post_training_scaling",
                fingerprint=key,
                threads=params.threads,
                measured=measured,
                shared=shared,
                **run,
            )
            result = {**result[steps * config.batch_size], "steps": steps}
            result["format_gap"] = result["violation"] / 100
            results[(seed, size)] = result
            rows.append(
                {
                    "seed": seed,
                    "dataset": size,
                    "steps": steps,
                    **{k: f"{result[k]:.6g}" for k in ("format_gap", "safe_mse", "clamped_mse", "breakdown")},
                }
            )
    sizes = np.array(config.dataset_sizes, float)
    metrics = {
        "dataset_sizes": config.dataset_sizes,
        "seeds": config.seeds,
        "fit_up_to": config.fit_up_to,
        "base": {k: round(v, 6) for k, v in measured(base).items()},
        "curves": {},
    }
    for curve in CURVES:
        per_seed = np.array([[results[(seed, size)][curve] for size in config.dataset_sizes] for seed in config.seeds])
        mean = per_seed.mean(0)
        metrics["curves"][curve] = {
            "mean": [round(float(v), 6) for v in mean],
            "std": [round(float(v), 6) for v in per_seed.std(0, ddof=1)],
            "fits": fits.compare(FORMS, sizes, mean, params.intervals, sizes <= config.fit_up_to),
            "late_share": round(late_share(dict(zip(config.dataset_sizes, mean)), config.fit_up_to), 6),
        }
    write_rows(TABLE, ["seed", "dataset", "steps", "format_gap", "safe_mse", "clamped_mse", "breakdown"], rows)
    metrics["checkpoint_sha256"] = meta["sha256"]
    metrics["intervals"] = {"level": params.intervals.level, **collect(metrics)}
    write_json(METRICS, metrics)
    print(f"post_training_scaling: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    run_stage(main)
