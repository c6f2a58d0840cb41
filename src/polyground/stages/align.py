"""Stage ``align``: the aligned model, full fine-tuning of the paper-size base model on clamped targets.

Starts from ``models/pretrain`` and trains every parameter on the stream of
:func:`polyground.alignment.align_batches` (``align`` in params.yaml). Outputs ``models/align/``
(safetensors + sidecar with the base checkpoint's sha256 and the fine-tuning budget: steps,
sequences, wall time) and ``logs/align.csv``. Resumable like ``pretrain`` (``runs/align/``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..alignment import align_batches, check_threshold
from ..checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ..config import as_dict, load_params
from ..model import count_parameters
from ..tasks import ChebyshevTask, generator_for
from ..train import train
from ..files import copy_atomic
from . import fingerprint_dir, run_stage

BASE, OUT, LOG = "models/pretrain", "models/align", Path("logs/align.csv")


def load_base_and_aligned(params) -> tuple[torch.nn.Module, dict, torch.nn.Module, dict]:
    """The base and aligned checkpoints (verified), refusing an aligned model of another base."""
    base, base_meta = load_checkpoint(BASE, params.model, stage="pretrain")
    aligned, aligned_meta = load_checkpoint(OUT, params.model, stage="align")
    if aligned_meta.get("base_sha256") != base_meta["sha256"]:
        raise CheckpointError(f"{OUT} was fine-tuned from another base checkpoint than {BASE}: rebuild it with `dvc repro align`")
    return base, base_meta, aligned, aligned_meta


def main() -> None:
    params = load_params()
    config = params.align
    torch.set_num_threads(params.threads)
    task = ChebyshevTask(**as_dict(config.task))
    check_threshold(task.sample(10000, 1, generator_for(config.seed, "figure"))[1], config.threshold, "align.threshold")
    model, base = load_checkpoint(BASE, params.model, stage="pretrain")
    model.train()
    fingerprint = {"stage": "align", "base_sha256": base["sha256"], "threads": params.threads,
                   **{k: v for k, v in as_dict(config).items() if k != "train"}}
    run_dir = fingerprint_dir("runs/align", {**fingerprint, "train": as_dict(config.train)})
    batch = align_batches(task, config.threshold, config.clamped_context_fraction, config.seed)
    summary = train(model, batch, config.train, run_dir, fingerprint, params.threads, desc="align")
    save_checkpoint(
        model, OUT, params.model, stage="align", base_sha256=base["sha256"], step=summary["steps"],
        sequences=summary["steps"] * config.train.batch_size, wall_s=round(summary["wall_s"], 1),
        align=as_dict(config), threads=params.threads, torch=torch.__version__,
        parameters=count_parameters(model),
    )
    copy_atomic(summary["log"], LOG)
    print(f"align: {summary['steps']} steps in {summary['wall_s']:.0f} s, final loss {summary['final_loss']:.4f}")


if __name__ == "__main__":
    run_stage(main)
