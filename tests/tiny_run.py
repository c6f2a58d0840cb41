"""A tiny pretraining run, importable by tests and runnable as a subprocess (for kill-and-resume).

Usage: python tests/tiny_run.py RUN_DIR OUT_FILE
"""

from __future__ import annotations

import os
import sys

import torch
from safetensors.torch import save_file

from polyground.checkpoint import build_model
from polyground.config import CurriculumConfig, ModelConfig, TrainConfig, replace
from polyground.tasks import ChebyshevTask, generator_for
from polyground.train import train

MODEL = ModelConfig(n_embd=16, n_layer=2, n_head=2, max_points=21)
CONFIG = TrainConfig(
    steps=300,
    batch_size=8,
    lr=3e-3,
    warmup_steps=5,
    checkpoint_every=5,
    log_every=5,
    curriculum=CurriculumConfig(points_start=5, points_end=21, points_step=4, step_every=50),
)
TASK = ChebyshevTask(5)


def batch(step: int, batch_size: int, n_points: int):
    xs, ys, _ = TASK.sample(batch_size, n_points, generator_for(0, "train", step))
    return xs, ys, ys


def run(run_dir: str, config: TrainConfig = CONFIG, **probe) -> dict[str, torch.Tensor]:
    """Train the tiny model (resuming from run_dir if it has state); return its final weights.
    ``probe``, ``probe_every`` and ``until`` are passed to the loop."""
    torch.manual_seed(0)
    model = build_model(MODEL)
    train(model, batch, config, run_dir, {"test": "tiny"}, threads=1, desc="tiny", **probe)
    return {k: v.clone() for k, v in model.state_dict().items()}


if __name__ == "__main__":
    compiled = os.environ.get("TINY_RUN_COMPILE") == "1"
    save_file(run(sys.argv[1], replace(CONFIG, compile=compiled)), sys.argv[2])
