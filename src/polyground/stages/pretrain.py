"""Stage ``pretrain``: train the in-context regressor on the degree 0..max_degree class.

Outputs: ``models/pretrain/`` (safetensors + JSON sidecar) and ``logs/pretrain.csv``. Resumable:
the run state lives in ``runs/pretrain/<fingerprint>/``; rerunning after a kill continues there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from accelerate import PartialState

from ..checkpoint import build_model, save_checkpoint
from ..config import as_dict, load_params
from ..curriculum import degree_at
from ..model import count_parameters
from ..tasks import ChebyshevTask, generator_for
from ..train import train
from . import fingerprint_dir, run_stage

OUT, LOG, RUNS = "models/pretrain", "logs/pretrain.csv", "runs/pretrain"


def main() -> None:
    params = load_params()
    torch.set_num_threads(params.threads)
    task = ChebyshevTask(**as_dict(params.pretrain.task))

    curriculum = params.pretrain.train.curriculum

    def batch(step: int, batch_size: int, n_points: int):
        degree = degree_at(curriculum, step, task.max_degree)
        xs, ys, _ = task.sample(batch_size, n_points, generator_for(params.seed, "train", step), degree)
        return xs, ys, ys

    torch.manual_seed(params.seed)
    model = build_model(params.model)
    fingerprint = {
        "stage": "pretrain", "seed": params.seed, "threads": params.threads,
        "model": as_dict(params.model), "task": as_dict(params.pretrain.task),
    }
    run_dir = fingerprint_dir(RUNS, {**fingerprint, "train": as_dict(params.pretrain.train)})
    summary = train(model, batch, params.pretrain.train, run_dir, fingerprint, params.threads, desc="pretrain")
    if not PartialState().is_main_process:  # under `accelerate launch`, one process writes the outputs
        return
    save_checkpoint(
        model, OUT, params.model, stage="pretrain", seed=params.seed, step=summary["steps"],
        task=as_dict(params.pretrain.task), train=as_dict(params.pretrain.train),
        wall_s=round(summary["wall_s"], 1), threads=params.threads, torch=torch.__version__,
        parameters=count_parameters(model, trainable_only=False),
    )
    Path(LOG).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(summary["log"], LOG + ".tmp")
    os.replace(LOG + ".tmp", LOG)
    print(f"pretrain: {summary['steps']} steps in {summary['wall_s']:.0f} s, final loss {summary['final_loss']:.4f}")


if __name__ == "__main__":
    run_stage(main)
