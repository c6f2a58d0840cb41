"""Stage ``pretrain``: train the in-context regressor on the degree 0..max_degree class.

``python -m polyground.stages.pretrain`` trains the paper-size model (``model``) into
``models/pretrain/`` and ``logs/pretrain.csv``; ``--size NAME`` trains the size ``model_sizes.NAME``
of the model-size study with the same recipe and data stream into ``models/pretrain_NAME/`` and
``logs/pretrain_NAME.csv``. Resumable: the run state lives in ``runs/<name>/<fingerprint>/``;
rerunning after a kill continues there.
"""

from __future__ import annotations

import argparse

import torch
from accelerate import PartialState

from ..checkpoint import build_model, save_checkpoint
from ..config import ParamsError, as_dict, load_params
from ..curriculum import pretraining_batches
from ..model import count_parameters
from ..tasks import ChebyshevTask
from ..train import train
from . import fingerprint_dir, publish_log, run_stage


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m polyground.stages.pretrain", description=__doc__)
    parser.add_argument("--size", help="a key of model_sizes in params.yaml (default: the paper-size model)")
    args = parser.parse_args(argv)
    params = load_params()
    if args.size is None:
        name, model_config = "pretrain", params.model
    elif args.size in params.model_sizes:
        name, model_config = f"pretrain_{args.size}", params.model_sizes[args.size]
    else:
        raise ParamsError(f"--size {args.size!r} is not in model_sizes: choose one of {', '.join(params.model_sizes)}")
    torch.set_num_threads(params.threads)
    task = ChebyshevTask(**as_dict(params.pretrain.task))
    batch = pretraining_batches(task, params.pretrain.train.curriculum, params.seed)
    torch.manual_seed(params.seed)
    model = build_model(model_config)
    fingerprint = {
        "stage": name, "seed": params.seed, "threads": params.threads,
        "model": as_dict(model_config), "task": as_dict(params.pretrain.task),
    }
    run_dir = fingerprint_dir(f"runs/{name}", {**fingerprint, "train": as_dict(params.pretrain.train)})
    summary = train(model, batch, params.pretrain.train, run_dir, fingerprint, params.threads, desc=name)
    if not PartialState().is_main_process:  # under `accelerate launch`, one process writes the outputs
        return
    save_checkpoint(
        model, f"models/{name}", model_config, stage=name, seed=params.seed, step=summary["steps"],
        task=as_dict(params.pretrain.task), train=as_dict(params.pretrain.train),
        wall_s=round(summary["wall_s"], 1), threads=params.threads, torch=torch.__version__,
        parameters=count_parameters(model, trainable_only=False),
    )
    publish_log(summary["log"], f"logs/{name}.csv")
    print(f"{name}: {summary['steps']} steps in {summary['wall_s']:.0f} s, final loss {summary['final_loss']:.4f}")


if __name__ == "__main__":
    run_stage(main)
