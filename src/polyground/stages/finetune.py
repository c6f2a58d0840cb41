"""Stage ``finetune`` (and ``soft_prompt_sweep``, ``soft_prompt_best``): one fine-tuning run.

``python -m polyground.stages.finetune --method M --fixed-coefficients K`` fine-tunes the
pretrained model with method M (:mod:`polyground.finetune`) on the degree-``finetune.degree``
class with K fixed coefficients, with ``finetune.train``'s budget and the data stream of
``finetune.seed`` (the same for every method), into ``models/finetune/M_kK/`` and
``logs/finetune/M_kK.csv``. ``--lr`` overrides the learning rate (the sweep), ``--lr-from FILE``
takes the sweep's ``best_lr`` from its metrics, and ``--out`` names the output directory.
Resumable (``runs/finetune/<fingerprint>/``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..checkpoint import load_checkpoint
from ..config import ParamsError, as_dict, load_params, replace
from ..files import copy_atomic, fingerprint_dir
from ..finetune import attach, save_finetuned
from ..model import count_parameters
from ..tasks import ChebyshevTask, generator_for
from ..train import train
from . import run_stage

BASE = "models/pretrain"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m polyground.stages.finetune", description=__doc__)
    parser.add_argument("--method", required=True, help="lora, soft_prompt_<P> or full_finetune")
    parser.add_argument("--fixed-coefficients", type=int, required=True, help="k: c_0 .. c_{k-1} = 1")
    parser.add_argument("--lr", type=float, help="learning rate (default: finetune.train.lr, or full_finetune_lr)")
    parser.add_argument("--lr-from", help="a metrics JSON with best_lr (the soft-prompt sweep's)")
    parser.add_argument("--out", help="output directory (default: models/finetune/<method>_k<k>)")
    args = parser.parse_args(argv)
    params = load_params()
    config = params.finetune
    torch.set_num_threads(params.threads)
    if args.method not in config.methods and args.method != f"soft_prompt_{config.sweep_pairs}":
        raise ParamsError(
            f"--method {args.method!r} is not in finetune.methods: choose one of {', '.join(config.methods)}"
        )
    lr = args.lr or (json.loads(Path(args.lr_from).read_text())["best_lr"] if args.lr_from else None)
    lr = lr or (config.full_finetune_lr if args.method == "full_finetune" else config.train.lr)
    train_config = replace(config.train, lr=lr)
    name = f"{args.method}_k{args.fixed_coefficients}"
    out = Path(args.out or f"models/finetune/{name}")
    if not out.is_relative_to("models"):
        raise ParamsError(f"--out {out} is outside models/: fine-tuned outputs live under models/")
    task = ChebyshevTask(config.degree, random_degree=False, fixed_coefficients=args.fixed_coefficients)

    def batch(step: int, batch_size: int, n_points: int):
        xs, ys, _ = task.sample(batch_size, n_points, generator_for(config.seed, "train", step))
        return xs, ys, ys

    model, base = load_checkpoint(BASE, params.model, stage="pretrain")
    model = attach(model, args.method, config, seed=config.seed)
    model.train()
    trainable = count_parameters(model)
    fingerprint = {
        "stage": "finetune",
        "method": args.method,
        "task": as_dict(task),
        "seed": config.seed,
        "base_sha256": base["sha256"],
        "threads": params.threads,
        "lora": [config.lora_rank, config.lora_alpha] if args.method == "lora" else None,
    }
    run_dir = fingerprint_dir("runs/finetune", {**fingerprint, "train": as_dict(train_config)})
    summary = train(model, batch, train_config, run_dir, fingerprint, params.threads, desc=f"{out.name}")
    save_finetuned(
        model,
        out,
        args.method,
        params.model,
        base,
        fixed_coefficients=args.fixed_coefficients,
        lr=lr,
        steps=summary["steps"],
        trainable_parameters=trainable,
        wall_s=round(summary["wall_s"], 1),
        train=as_dict(train_config),
        threads=params.threads,
        torch=torch.__version__,
    )
    copy_atomic(summary["log"], Path("logs") / f"{out.relative_to('models')}.csv")
    print(
        f"finetune {out}: {trainable} trainable parameters, lr {lr:g}, {summary['steps']} steps in "
        f"{summary['wall_s']:.0f} s, final loss {summary['final_loss']:.4f}"
    )


if __name__ == "__main__":
    run_stage(main)
