"""The training loop, on Accelerate: one loop for pretraining, alignment and PEFT.

The caller gives a model whose ``forward(xs, ys_context)`` returns predictions, and a
``batch_fn(step, batch_size, n_points) -> (xs, ys_context, ys_target)`` that draws the *global*
batch of ``step`` from a generator seeded by (seed, step). Each process takes its slice of that
batch, so one process or many see the same data stream, and a resumed run sees the same batches
as an uninterrupted one.

Every ``checkpoint_every`` steps the loop saves the run's state in its run directory, and restarted
there it continues from the last one, ending bit-identical to an uninterrupted run (same machine,
same thread count): :mod:`polyground.run_state`.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from torch import nn
from tqdm.auto import tqdm

from .config import TrainConfig, as_dict
from .curriculum import BatchFn, lr_at, points_at
from .errors import ResumeError
from .files import write_rows
from .run_state import check_resumable, load_state, read_log, save_state

LOG_FIELDS = ("step", "points", "lr", "loss", "grad_norm", "elapsed_s")
TOTALS = ("step", "sequences", "train_s", "eval_s")  # counted over the cycles of a run (:class:`Before`)
Probe = Callable[[nn.Module], dict[str, float]]


@dataclass
class Before:
    """What an earlier cycle of the same run left (continued pretraining): its log and progress rows
    and its totals, which this cycle's rows continue (steps, sequences and seconds counted from them)."""

    log: list[dict] = field(default_factory=list)
    progress: list[dict] = field(default_factory=list)
    step: int = 0
    sequences: int = 0
    train_s: float = 0.0
    eval_s: float = 0.0

    @classmethod
    def after(cls, summary: dict) -> Before:
        """What a finished cycle (:func:`train`'s summary) leaves to the next one."""
        return cls(
            read_log(Path(summary["log"]), summary["step"]),
            read_log(Path(summary["progress"]), summary["step"]) if summary["progress"] else [],
            **{key: summary[key] for key in TOTALS},
        )


def make_optimizer(model: nn.Module, config: TrainConfig, fused: bool = False) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; weight decay on matrices only (nanoGPT's rule);
    ``fused``: one kernel for the whole step (CUDA)."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2), fused=fused or None)


def _write_log(path: Path, rows: list[dict]) -> None:
    write_rows(path, list(rows[0]) if rows else list(LOG_FIELDS), rows)


def train(
    model: nn.Module,
    batch_fn: BatchFn,
    config: TrainConfig,
    run_dir: str | Path,
    fingerprint: dict[str, Any],
    threads: int,
    desc: str = "train",
    probe: Probe | None = None,
    probe_every: int = 0,
    probe_steps: frozenset[int] = frozenset(),
    until: int | None = None,
    before: Before | None = None,
) -> dict:
    """Train ``model`` in place (resuming from ``run_dir`` if it holds this run's state); with
    ``until``, stop after that step of the run (an earlier checkpoint of the same trajectory).

    ``probe`` (if given) evaluates the model every ``probe_every`` steps and after each step of
    ``probe_steps`` (nested budgets measured along one run); its results go to
    ``progress.csv`` beside the training seconds and the evaluation seconds so far (both summed
    over resumptions; the training clock pauses while it evaluates) and the peak memory.
    ``before`` (a second cycle of a run): its rows head this run's logs, and the steps, sequences
    and seconds of the logs and of the summary's totals count from it (kept in the run's state, so
    a resumed cycle needs no ``before``).
    Returns a summary: steps, wall time (summed over resumptions), final logged loss, log path,
    and the totals over the cycles (:data:`TOTALS`).
    """
    torch.set_num_threads(threads)
    run_dir = Path(run_dir)
    accelerator = Accelerator()
    if config.batch_size % accelerator.num_processes:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by {accelerator.num_processes} processes")
    local = config.batch_size // accelerator.num_processes
    rank = accelerator.process_index
    optimizer = make_optimizer(model, config)
    fingerprint = json.loads(json.dumps({**fingerprint, "train": as_dict(config)}))

    stop = config.steps if until is None else min(until, config.steps)
    start, elapsed, eval_s, before = 0, 0.0, 0.0, before or Before()
    if (run_dir / "state.json").exists():
        info = load_state(run_dir, model, optimizer)
        check_resumable(info["fingerprint"], fingerprint, info["step"], run_dir)
        if info["step"] > stop:
            raise ResumeError(
                f"{run_dir} holds step {info['step']}, beyond this run's {stop} steps: "
                "lengthen the run, or move the directory away to start afresh"
            )
        start, elapsed, eval_s = info["step"], info["elapsed_s"], info.get("eval_s", 0.0)
        before = Before(**info.get("before", {}))
        rows = read_log(run_dir / "log.csv", before.step + start)
        progress_rows = read_log(run_dir / "progress.csv", before.step + start)
    else:
        rows, progress_rows = list(before.log), list(before.progress)
    run_dir.mkdir(parents=True, exist_ok=True)
    model, optimizer = accelerator.prepare(model, optimizer)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if config.compile:  # one dynamic-shape graph for every curriculum length
        model = torch.compile(model, dynamic=True)

    progress = tqdm(
        total=stop,
        initial=start,
        desc=desc,
        disable=not accelerator.is_main_process,
        mininterval=1.0 if os.isatty(2) else 30.0,
        dynamic_ncols=True,
    )
    began, loss_sum, loss_count, grad_norm = time.perf_counter() - elapsed, 0.0, 0, torch.zeros(())
    for step in range(start, stop):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(config, step)
        n_points = points_at(config.curriculum, step, config.steps)
        xs, ys_context, ys_target = (
            t[rank * local : (rank + 1) * local].to(accelerator.device)
            for t in batch_fn(step, config.batch_size, n_points)
        )
        loss = nn.functional.mse_loss(model(xs, ys_context), ys_target)
        accelerator.backward(loss)
        if config.grad_clip > 0:
            grad_norm = accelerator.clip_grad_norm_(trainable, config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_sum += accelerator.reduce(loss.detach(), "mean").item()
        loss_count += 1
        done = step + 1
        if done % config.log_every == 0 or done == stop:
            mean_loss = loss_sum / loss_count
            rows.append(
                {
                    "step": before.step + done,
                    "points": n_points,
                    "lr": f"{lr_at(config, step):.6g}",
                    "loss": f"{mean_loss:.6g}",
                    "grad_norm": f"{float(grad_norm):.6g}",
                    "elapsed_s": f"{before.train_s + time.perf_counter() - began:.2f}",
                }
            )
            progress.set_postfix(loss=f"{mean_loss:.4f}", points=n_points, refresh=False)
            loss_sum, loss_count = 0.0, 0
        progress.update(1)
        due = (probe_every and (done % probe_every == 0 or done == stop)) or done in probe_steps
        if probe is not None and due and accelerator.is_main_process:
            paused = time.perf_counter()
            results = probe(accelerator.unwrap_model(model, keep_torch_compile=False))
            model.train()
            eval_s += time.perf_counter() - paused
            progress_rows.append(
                {
                    "step": before.step + done,
                    "sequences": before.sequences + done * config.batch_size,
                    "train_s": f"{before.train_s + paused - began:.1f}",
                    "eval_s": f"{before.eval_s + eval_s:.1f}",
                    "peak_rss_mib": f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}",
                    "device": accelerator.device.type,
                    **{k: f"{v:.6g}" for k, v in results.items()},
                }
            )
            began += time.perf_counter() - paused
            progress.write(f"step {done}: " + " ".join(f"{k} {v:.4g}" for k, v in results.items() if "_deg" not in k))
        if done % config.checkpoint_every == 0 or done == stop:
            accelerator.wait_for_everyone()
            elapsed = time.perf_counter() - began
            if accelerator.is_main_process:
                _write_log(run_dir / "log.csv", rows)
                if progress_rows:
                    _write_log(run_dir / "progress.csv", progress_rows)
                save_state(
                    run_dir,
                    accelerator.unwrap_model(model, keep_torch_compile=False),
                    optimizer,
                    {
                        "step": done,
                        "elapsed_s": elapsed,
                        "eval_s": eval_s,
                        "fingerprint": fingerprint,
                        "before": {key: getattr(before, key) for key in TOTALS},
                    },
                )
    progress.close()
    accelerator.wait_for_everyone()
    return {
        "steps": stop,
        "wall_s": elapsed,  # as saved with the last state: a finished run re-entered reports the same
        "final_loss": float(rows[-1]["loss"]) if rows else float("nan"),
        "log": str(run_dir / "log.csv"),
        "progress": str(run_dir / "progress.csv") if progress_rows else None,
        "num_processes": accelerator.num_processes,
        "step": before.step + stop,
        "sequences": before.sequences + stop * config.batch_size,
        "train_s": before.train_s + elapsed,
        "eval_s": before.eval_s + eval_s,
    }
