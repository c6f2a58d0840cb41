"""Stage ``finetune`` (and ``soft_prompt_sweep``, ``soft_prompt_best``): one fine-tuning run.

``python -m polyground.stages.finetune --method M --fixed-coefficients K`` fine-tunes the
pretrained model with method M (:mod:`polyground.finetune`) on the degree-``finetune.degree``
class with K fixed coefficients, with ``finetune.train``'s budget and the data stream of
``finetune.seed`` (the same for every method), into ``models/finetune/M_kK/`` and
``logs/finetune/M_kK.csv``. ``--lr`` overrides the learning rate (the sweep), ``--lr-from FILE``
takes the sweep's ``best_lr`` from its metrics, ``--seed S`` trains another seed of the run (its data
stream and initialisation; into ``M_kK_seedS``), and ``--out`` names the output directory.
Resumable (``runs/finetune/<fingerprint>/``). A warmup-stable-decay ``finetune.train`` follows the
convergence rule (``convergence``, :func:`polyground.convergence.train_to_convergence`): the stable
phase is doubled until the training loss and the held-out error after ``convergence.finetune_context``
examples (:func:`polyground.convergence.finetune_probe`, ``logs/<out>_progress.csv``) are flat over its
last quarter, or a cap; the sidecar records the verdict. ``--set NAME`` merges ``configs/NAME.yaml``
over params.yaml (runs trained before their recipe is promoted are resumed, finished, by ``dvc repro``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from .. import methods
from ..checkpoint import load_checkpoint
from ..config import ParamsError, as_dict, load_params, replace
from ..convergence import FINETUNE_SERIES, check_lengthenable, finetune_probe, run_key, train_by_rule
from ..files import copy_atomic
from ..finetune import attach, save_finetuned
from ..model import count_parameters
from ..paths import MODELS_DIR, PRETRAIN, finetune_model, progress_log, training_log
from ..run_state import fingerprint_dir
from ..tasks import ChebyshevTask, generator_for
from ..train import train
from . import run_stage


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m polyground.stages.finetune", description=__doc__)
    parser.add_argument("--method", required=True, help="lora, soft_prompt_<P> or full_finetune")
    parser.add_argument("--fixed-coefficients", type=int, required=True, help="k: c_0 .. c_{k-1} = 1")
    parser.add_argument("--lr", type=float, help="learning rate (default: finetune.train.lr, or full_finetune_lr)")
    parser.add_argument("--lr-from", help="a metrics JSON with best_lr (the soft-prompt sweep's)")
    parser.add_argument("--seed", type=int, help="the training seed: data stream and initialisation (finetune.seed)")
    parser.add_argument("--out", help="output directory (default: models/finetune/<method>_k<k>[_seed<S>])")
    parser.add_argument("--set", dest="set_name", help="a parameter set in configs/ merged over params.yaml")
    args = parser.parse_args(argv)
    params = load_params(set_name=args.set_name)
    config = params.finetune
    torch.set_num_threads(params.threads)
    if args.method not in config.methods and args.method != f"soft_prompt_{config.sweep_pairs}":
        raise ParamsError(
            f"--method {args.method!r} is not in finetune.methods: choose one of {', '.join(config.methods)}"
        )
    lr = args.lr or (json.loads(Path(args.lr_from).read_text())["best_lr"] if args.lr_from else None)
    lr = lr or methods.rate(args.method, config)
    seed = config.seed if args.seed is None else args.seed
    train_config = replace(config.train, lr=lr)
    converging = train_config.schedule == "wsd"
    if converging:
        check_lengthenable(train_config)
    out = Path(args.out) if args.out else finetune_model(args.method, args.fixed_coefficients)
    if seed != config.seed and not args.out:  # another training seed of the same run: beside it
        out = out.with_name(f"{out.name}_seed{seed}")
    if not out.is_relative_to(MODELS_DIR):
        raise ParamsError(f"--out {out} is outside {MODELS_DIR}/: fine-tuned outputs live under {MODELS_DIR}/")
    task = ChebyshevTask(config.degree, random_degree=False, fixed_coefficients=args.fixed_coefficients)

    def batch(step: int, batch_size: int, n_points: int):
        xs, ys, _ = task.sample(batch_size, n_points, generator_for(seed, "train", step))
        return xs, ys, ys

    model, base = load_checkpoint(PRETRAIN, params.model, stage="pretrain")
    model = attach(model, args.method, config, seed=seed)
    model.train()
    trainable = count_parameters(model)
    fingerprint = {
        "stage": "finetune",
        "method": args.method,
        "task": as_dict(task),
        "seed": seed,
        "base_sha256": base["sha256"],
        "threads": params.threads,
        "lora": [config.lora_rank, config.lora_alpha] if args.method == "lora" else None,
    }
    rule = params.convergence
    run_dir = fingerprint_dir("runs/finetune", {**fingerprint, **run_key(train_config, rule, FINETUNE_SERIES)})
    verdict = None
    if converging:
        probe = finetune_probe(task, rule.finetune_context, rule.probe_queries, rule.probe_seed)
        summary, verdict = train_by_rule(
            model, batch, train_config, run_dir, fingerprint, params.threads, out.name, rule, FINETUNE_SERIES, probe
        )
        copy_atomic(run_dir / "progress.csv", progress_log(out))
    else:
        summary = train(model, batch, train_config, run_dir, fingerprint, params.threads, desc=out.name)
    save_finetuned(
        model,
        out,
        args.method,
        params.model,
        base,
        fixed_coefficients=args.fixed_coefficients,
        lr=lr,
        steps=summary["steps"],
        **({"convergence": verdict} if verdict is not None else {}),
        trainable_parameters=trainable,
        wall_s=round(summary["wall_s"], 1),
        train=as_dict(train_config),
        threads=params.threads,
        torch=torch.__version__,
    )
    copy_atomic(summary["log"], training_log(out))
    print(
        f"finetune {out}: {trainable} trainable parameters, lr {lr:g}, {summary['steps']} steps in "
        f"{summary['wall_s']:.0f} s, final loss {summary['final_loss']:.4f}"
    )


if __name__ == "__main__":
    run_stage(main)
