"""Stage ``seed_spread``: how much a short pretraining run's metrics move from seed to seed.

Each seed of ``seed_spread.seeds`` trains the default recipe shortened to ``seed_spread.steps``
(see :class:`polyground.config.SeedSpreadConfig`) and is evaluated with the baselines' protocol on
``seed_spread.num_sequences`` sequences. ``metrics/seed_spread.json`` holds, per metric key of
``metrics/pretrain.json``, the values per seed, their mean, standard deviation and relative range
((max - min) / mean): the source of the claims' retrain tolerances (``polyground.claims record``).
Resumable per seed (``runs/seed_spread/<fingerprint>/``).
"""

from __future__ import annotations

import statistics
import time

import torch

from ..checkpoint import build_model
from ..config import as_dict, load_params, replace
from ..curriculum import pretraining_batches
from ..evaluate import eval_sequences, headline, model_predictor, squared_errors, summarize
from ..files import write_json
from ..paths import metrics_json
from ..run_state import fingerprint_dir
from ..tasks import ChebyshevTask
from ..train import train
from . import run_stage

OUT, RUNS = metrics_json("seed_spread"), "runs/seed_spread"
SOURCE = str(metrics_json("pretrain"))  # the key the spread is filed under: the metrics file it measures


def main() -> None:
    params = load_params()
    torch.set_num_threads(params.threads)
    spread = params.seed_spread
    task = ChebyshevTask(**as_dict(params.pretrain.task))
    base = params.pretrain.train
    config = replace(
        base,
        steps=spread.steps,
        decay_steps=base.decay_steps * spread.steps // base.steps,  # wsd: same share
        compile=False,
        curriculum=replace(base.curriculum, final_steps=0),
        checkpoint_every=base.log_every * max(1, spread.steps // (10 * base.log_every)),
    )
    xs_eval, ys_eval = eval_sequences(task, spread.num_sequences, params.evaluate.points, params.evaluate.seed)
    examples = params.evaluate.headline_examples + [params.evaluate.points - 1]
    per_seed: dict[str, list[float]] = {}
    began = time.perf_counter()
    for seed in spread.seeds:
        batch = pretraining_batches(task, config.curriculum, seed)
        torch.manual_seed(seed)
        model = build_model(params.model)
        fingerprint = {
            "stage": "seed_spread",
            "seed": seed,
            "threads": params.threads,
            "model": as_dict(params.model),
            "task": as_dict(params.pretrain.task),
        }
        run_dir = fingerprint_dir(RUNS, {**fingerprint, "train": as_dict(config)})
        train(model, batch, config, run_dir, fingerprint, params.threads, desc=f"seed {seed}")
        errors = squared_errors(model_predictor(model, params.evaluate.batch_size), xs_eval, ys_eval, ys_eval)
        for key, value in headline(summarize(errors, params.evaluate.confidence), examples).items():
            per_seed.setdefault(f"model.{key}", []).append(value)
    stats = {
        key: {
            "values": values,
            "mean": round(statistics.fmean(values), 6),
            "std": round(statistics.stdev(values), 6),
            "relative_range": round((max(values) - min(values)) / abs(statistics.fmean(values)), 6),
        }
        for key, values in per_seed.items()
    }
    write_json(
        OUT, {"seeds": spread.seeds, "steps": spread.steps, "num_sequences": spread.num_sequences, SOURCE: stats}
    )
    print(f"seed_spread: {len(spread.seeds)} seeds in {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    run_stage(main)
