"""The GPU path: pretraining with every batch drawn on the device and no per-step host work.

On a GPU the CPU loop (:func:`polyground.train.train`) is bound by per-step overhead: batches drawn on
the CPU and copied over, a ``.item()`` every step, dynamic-shape compilation without CUDA graphs,
unfused AdamW, fp32. This loop, for one device:

* draws each batch on the device (:func:`polyground.curriculum.pretraining_batches` with a device):
  from (seed, "device", step), a pure function of the seed and the step like the CPU stream, but
  another stream (a CUDA generator is not the CPU's): the run's fingerprint names the device type;
* on CUDA runs the model under bf16 autocast with the loss in fp32, TF32 matmuls, one compiled graph
  per curriculum length (``compile_mode`` "reduce-overhead": CUDA graphs), and fused AdamW;
* keeps the loss on the device, reads it every ``log_every`` steps, and checkpoints every
  ``checkpoint_every`` steps in the CPU loop's format (:func:`polyground.run_state.save_state`), so a run
  resumes; a ``deadline`` (seconds of the run) ends it early at a logged step, state saved.

On the CPU it runs the same code in fp32 (its tests and the benchmark's CPU figure).
``python -m polyground.fast_train``: the GPU recipe (``configs/gpu.yaml``) end to end (scripts/gpu_run.sh).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoint import build_model, save_checkpoint
from .config import TrainConfig, as_dict, load_params
from .curriculum import BatchFn, lr_at, points_at, pretraining_batches
from .evaluate import (
    eval_sequences,
    for_evaluation,
    headline,
    model_predictor,
    progress_probe,
    squared_errors,
    summarize,
)
from .files import copy_atomic, write_atomic, write_rows
from .model import count_parameters
from .run_state import check_resumable, load_state, read_log, save_state
from .tasks import ChebyshevTask
from .train import Probe, make_optimizer

COMPILE_MODES = ("reduce-overhead", "default", "none")


def compiled(model: nn.Module, config: TrainConfig, device: torch.device, compile_mode: str) -> nn.Module:
    """The model's forward as the loop runs it: on CUDA with TF32 matmuls, compiled with static shapes
    (one graph per curriculum length) in ``compile_mode`` when ``config.compile`` ("none": eager)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if not config.compile or compile_mode == "none":
        return model
    return torch.compile(model, dynamic=False, mode=compile_mode if device.type == "cuda" else "default")


def training_step(
    forward: nn.Module,
    optimizer: torch.optim.Optimizer,
    trainable: list[torch.Tensor],
    grad_clip: float,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    grad_norm: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step on a batch drawn on the device: bf16 autocast on CUDA, the loss in fp32, clipping and
    the optimizer without a host read. Returns the loss and the gradient norm (device tensors)."""
    xs, ys, target = batch
    with torch.autocast(xs.device.type, dtype=torch.bfloat16, enabled=xs.device.type == "cuda"):
        prediction = forward(xs, ys)
    loss = nn.functional.mse_loss(prediction.float(), target)
    loss.backward()
    if grad_clip > 0:
        grad_norm = torch.nn.utils.clip_grad_norm_(trainable, grad_clip, foreach=True)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach(), grad_norm


def train_fast(
    model: nn.Module,
    batch_fn: BatchFn,
    config: TrainConfig,
    run_dir: str | Path,
    fingerprint: dict[str, Any],
    device: torch.device,
    compile_mode: str = "reduce-overhead",
    probe: Probe | None = None,
    probe_every: int = 0,
    deadline: float | None = None,
) -> dict:
    """Train ``model`` in place on ``device`` (resuming from ``run_dir`` if it holds this run's state).

    ``batch_fn`` draws on ``device``. ``compile_mode``: torch.compile's mode with static shapes
    ("none": eager; only used when ``config.compile``). ``deadline``: seconds after which the run
    stops at its next logged step (state saved, resumable). Returns a summary like the CPU loop's."""
    run_dir, cuda = Path(run_dir), device.type == "cuda"
    model.to(device)
    optimizer = make_optimizer(model, config, fused=cuda)
    fingerprint = json.loads(
        json.dumps({**fingerprint, "loop": "device", "device": device.type, "train": as_dict(config)})
    )
    start, elapsed, eval_s, rows, progress_rows = 0, 0.0, 0.0, [], []
    if (run_dir / "state.json").exists():
        info = load_state(run_dir, model, optimizer)
        check_resumable(info["fingerprint"], fingerprint, info["step"], run_dir)
        start, elapsed, eval_s = info["step"], info["elapsed_s"], info.get("eval_s", 0.0)
        rows, progress_rows = read_log(run_dir / "log.csv", start), read_log(run_dir / "progress.csv", start)
    run_dir.mkdir(parents=True, exist_ok=True)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    loss_sum, count, grad_norm = torch.zeros((), device=device), 0, torch.zeros((), device=device)
    forward = compiled(model, config, device, compile_mode)
    began, stop = time.perf_counter() - elapsed, config.steps
    for step in range(start, config.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(config, step)
        n_points = points_at(config.curriculum, step, config.steps)
        loss, grad_norm = training_step(
            forward, optimizer, trainable, config.grad_clip, batch_fn(step, config.batch_size, n_points), grad_norm
        )
        loss_sum += loss
        count += 1
        done = step + 1
        if done % config.log_every == 0 or done == config.steps:  # the one host read per log_every steps
            rows.append(
                {
                    "step": done,
                    "points": n_points,
                    "lr": f"{lr_at(config, step):.6g}",
                    "loss": f"{float(loss_sum) / count:.6g}",
                    "grad_norm": f"{float(grad_norm):.6g}",
                    "elapsed_s": f"{time.perf_counter() - began:.2f}",
                }
            )
            loss_sum.zero_()
            count = 0
            if deadline is not None and time.perf_counter() - began > deadline:
                stop = done
        if probe is not None and probe_every and (done % probe_every == 0 or done == stop):
            paused = time.perf_counter()
            results = probe(model)
            model.train()
            eval_s += time.perf_counter() - paused
            progress_rows.append(
                {
                    "step": done,
                    "sequences": done * config.batch_size,
                    "train_s": f"{paused - began:.1f}",
                    "eval_s": f"{eval_s:.1f}",
                    "peak_rss_mib": f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}",
                    "device": device.type,
                    **{k: f"{v:.6g}" for k, v in results.items()},
                }
            )
            began += time.perf_counter() - paused
        if done % config.checkpoint_every == 0 or done == stop:
            elapsed = time.perf_counter() - began
            write_rows(run_dir / "log.csv", list(rows[0]), rows)
            if progress_rows:
                write_rows(run_dir / "progress.csv", list(progress_rows[0]), progress_rows)
            save_state(
                run_dir,
                model,
                optimizer,
                {"step": done, "elapsed_s": elapsed, "eval_s": eval_s, "fingerprint": fingerprint},
            )
        if done == stop:
            break
    return {
        "steps": stop,
        "wall_s": elapsed,
        "final_loss": float(rows[-1]["loss"]) if rows else float("nan"),
        "log": str(run_dir / "log.csv"),
        "progress": str(run_dir / "progress.csv") if progress_rows else None,
        "step": stop,
        "sequences": stop * config.batch_size,
        "train_s": elapsed,
        "eval_s": eval_s,
    }


def evaluate_base(model: nn.Module, params) -> dict[str, float]:
    """The model's headline errors on evaluate_pretrain's 10,000-sequence set (its code and seed)."""
    config = params.evaluate
    task = ChebyshevTask(**as_dict(params.pretrain.task))
    xs, ys = eval_sequences(task, config.num_sequences, config.points, config.seed)
    errors = squared_errors(model_predictor(for_evaluation(model), config.batch_size), xs, ys, ys)
    return headline(summarize(errors, config.confidence), config.headline_examples + [config.points - 1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m polyground.fast_train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--set", dest="set_name", default="gpu", help="the parameter set of the recipe (configs/)")
    parser.add_argument("--out", required=True, help="folder for the checkpoint, its run state, logs and evaluation")
    parser.add_argument("--run-dir", help="the resumable run state (default: OUT/run)")
    parser.add_argument("--steps", type=int, help="the run's length (default: the recipe's pretrain.train.steps)")
    parser.add_argument("--deadline", type=float, help="stop at the first logged step after this many seconds")
    parser.add_argument("--compile-mode", choices=COMPILE_MODES, default="reduce-overhead")
    parser.add_argument("--no-evaluation", action="store_true", help="skip the 10,000-sequence evaluation")
    args = parser.parse_args(argv)
    params = load_params(set_name=args.set_name)
    config = params.pretrain.train
    if args.steps is not None:
        config = config.model_copy(
            update={"steps": args.steps, "decay_steps": min(config.decay_steps, args.steps - config.warmup_steps)}
        )
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(params.threads)
    torch.manual_seed(params.seed)
    task = ChebyshevTask(**as_dict(params.pretrain.task))
    model = build_model(params.model)
    fingerprint = {
        "stage": "pretrain",
        "seed": params.seed,
        "model": as_dict(params.model),
        "task": as_dict(params.pretrain.task),
    }
    out = Path(args.out)
    probe = progress_probe(task, params.pretrain.progress) if params.pretrain.progress.every else None
    summary = train_fast(
        model,
        pretraining_batches(task, config.curriculum, params.seed, device),
        config,
        Path(args.run_dir) if args.run_dir else out / "run",
        fingerprint,
        device,
        args.compile_mode,
        probe,
        params.pretrain.progress.every,
        args.deadline,
    )
    model = model.cpu().float()
    name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    save_checkpoint(
        model,
        out / "model",
        params.model,
        stage="pretrain",
        seed=params.seed,
        step=summary["step"],
        task=as_dict(params.pretrain.task),
        train=as_dict(config),
        loop="device",
        device=name,
        wall_s=round(summary["train_s"], 1),
        torch=torch.__version__,
        parameters=count_parameters(model, False),
    )
    copy_atomic(summary["log"], out / "pretrain.csv")
    if summary["progress"]:
        copy_atomic(summary["progress"], out / "pretrain_progress.csv")
    result = {
        "step": summary["step"],
        "sequences": summary["sequences"],
        "train_s": round(summary["train_s"], 1),
        "sequences_per_s": round(summary["sequences"] / max(summary["train_s"], 1e-9)),
        "device": name,
    }
    if not args.no_evaluation:
        result["model"] = evaluate_base(model, params)
    write_atomic(out / "evaluation.json", json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
