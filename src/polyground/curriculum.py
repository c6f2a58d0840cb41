"""Curriculum on the number of in-context points, and the learning-rate schedule."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .config import CurriculumConfig, TrainConfig
from .tasks import ChebyshevTask, generator_for

BatchFn = Callable[[int, int, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def points_at(curriculum: CurriculumConfig, step: int, steps: int) -> int:
    """Points per sequence at ``step`` of a ``steps``-step run: start, + points_step every
    step_every steps, capped at points_end; final_points in the last final_steps steps and on
    every final_every-th step."""
    if step >= steps - curriculum.final_steps or (curriculum.final_every and step % curriculum.final_every == 0):
        return curriculum.final_points
    grown = curriculum.points_start + curriculum.points_step * (step // curriculum.step_every)
    return min(curriculum.points_end, grown)


def degree_at(curriculum: CurriculumConfig, step: int, max_degree: int) -> int:
    """Highest degree drawn at ``step``: degree_start, + 1 every degree_every steps, capped."""
    return min(max_degree, curriculum.degree_start + step // curriculum.degree_every)


def lr_at(config: TrainConfig, step: int) -> float:
    """Linear warmup to ``lr``, then constant, cosine decay to ``lr * min_lr_ratio``, or (wsd)
    constant until the last ``decay_steps`` steps and a linear decay to ``lr * min_lr_ratio``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return config.lr
    floor = config.lr * config.min_lr_ratio
    if config.schedule == "wsd":
        into_decay = step - (config.steps - config.decay_steps)
        return config.lr if into_decay < 0 else config.lr - (config.lr - floor) * (into_decay + 1) / config.decay_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return floor + (config.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def pretraining_batches(
    task: ChebyshevTask, curriculum: CurriculumConfig, seed: int, device: str | torch.device = "cpu"
) -> BatchFn:
    """The pretraining data stream: batch ``step`` drawn from (seed, "train", step), its degrees
    capped by the degree curriculum; the target is the context itself (next-y prediction). On
    another device than the CPU, the batch is drawn there, from (seed, "device", step)."""
    stream = "train" if torch.device(device).type == "cpu" else "device"

    def batch(step: int, batch_size: int, n_points: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        degree = degree_at(curriculum, step, task.max_degree)
        xs, ys, _ = task.sample(batch_size, n_points, generator_for(seed, stream, step, device), degree)
        return xs, ys, ys

    return batch
