"""Stage ``pretrain``: train the in-context regressor on the degree 0..max_degree class.

``python -m polyground.stages.pretrain`` trains the paper-size model (``model``) into
``models/pretrain/`` and ``logs/pretrain.csv`` (training log) and ``logs/pretrain_progress.csv``
(the progress evaluation, ``pretrain.progress``); ``--size NAME`` trains the size
``model_sizes.NAME`` of the model-size study with the same recipe and data stream into
``models/pretrain_NAME/``; ``--snapshot`` replays the paper-size run up to
``pretrain.snapshot_step`` into ``models/pretrain_snapshot/`` (an earlier checkpoint of the same run,
bit-identical to it on the same machine and threads). Resumable: the run state lives in ``runs/<name>/<recipe hash>/``;
rerunning after a kill continues there.

A run resumed across machines (docs/long-run.md): ``--set NAME`` merges ``configs/NAME.yaml``
over params.yaml; ``--continue`` also resumes from the published state ``resume/<name>/`` when it
is further along than ``runs/`` (a fresh machine after ``dvc pull resume/<name>.dvc``);
``--publish`` copies the run's current state, its progress log included, to ``resume/<name>/``
without training (scripts/long_run.sh pushes it to the remote).

Continued pretraining (``pretrain.continued``): a second warmup-stable-decay cycle from the first
cycle's final weights, with a fresh AdamW and the data stream after the first cycle's last step;
its logs continue the first cycle's. The second cycle is the run that resumes and is published; its
start needs the first cycle's end: from ``runs/``, from ``models/<name>`` when that checkpoint is
exactly the first cycle's end, or else trained first. ``--snapshot`` replays the first cycle only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from accelerate import PartialState
from safetensors.torch import load_model
from torch import nn

from ..checkpoint import WEIGHTS, build_model, read_metadata, save_checkpoint
from ..config import ParamsError, TrainConfig, as_dict, load_params
from ..curriculum import pretraining_batches
from ..errors import CheckpointError
from ..evaluate import progress_probe
from ..files import copy_atomic
from ..model import count_parameters
from ..paths import base_model, progress_log, training_log
from ..run_state import fingerprint_dir, move_state, read_log, recipe_key, saved_step
from ..tasks import ChebyshevTask
from ..train import Before, train
from . import run_stage


def finished_first_cycle(model: nn.Module, name: str, fingerprint: dict, first: TrainConfig) -> Before | None:
    """The first cycle's end from ``models/<name>`` when that checkpoint is exactly it (the same
    seed, threads, model, task and whole recipe, and no second cycle): its weights are loaded into
    ``model`` and its logs (``logs/<name>.csv``, ``logs/<name>_progress.csv``) head the second
    cycle's. A machine whose ``runs/`` lost the first cycle then need not train it again."""
    try:
        meta = read_metadata(base_model(name), name)
    except CheckpointError:
        return None
    same = {key: meta.get(key) for key in ("seed", "threads", "model", "task")} == {
        key: fingerprint[key] for key in ("seed", "threads", "model", "task")
    }
    if not same or meta.get("train") != as_dict(first) or meta.get("step") != first.steps or "continued" in meta:
        return None
    load_model(model, base_model(name) / WEIGHTS, strict=True)
    logs = training_log(base_model(name)), progress_log(base_model(name))
    log, progress = (read_log(path, first.steps) for path in logs)
    totals = progress[-1] if progress else {"train_s": meta["wall_s"], "eval_s": 0.0}
    return Before(
        log, progress, first.steps, first.steps * first.batch_size, float(totals["train_s"]), float(totals["eval_s"])
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m polyground.stages.pretrain", description=__doc__)
    parser.add_argument("--size", help="a key of model_sizes in params.yaml (default: the paper-size model)")
    parser.add_argument("--set", dest="set_name", help="a parameter set in configs/ merged over params.yaml")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--continue",
        dest="resume",
        action="store_true",
        help="resume from resume/<name>/ too, when it is further along than runs/",
    )
    mode.add_argument("--publish", action="store_true", help="copy the run's state to resume/<name>/; no training")
    mode.add_argument(
        "--snapshot",
        action="store_true",
        help="replay the run up to pretrain.snapshot_step into models/pretrain_snapshot/",
    )
    args = parser.parse_args(argv)
    params = load_params(set_name=args.set_name)
    until = params.pretrain.snapshot_step if args.snapshot else None
    if args.snapshot:
        if args.size is not None:
            raise ParamsError("--snapshot replays the paper-size run: leave out --size")
        name, model_config = "pretrain_snapshot", params.model
    elif args.size is None:
        name, model_config = "pretrain", params.model
    elif args.size in params.model_sizes:
        name, model_config = f"pretrain_{args.size}", params.size_model(args.size)
    else:
        raise ParamsError(f"--size {args.size!r} is not in model_sizes: choose one of {', '.join(params.model_sizes)}")
    config = params.pretrain
    fingerprint = {
        "stage": name,
        "seed": params.seed,
        "threads": params.threads,
        "model": as_dict(model_config),
        "task": as_dict(config.task),
    }
    continued = None if args.snapshot else config.continued
    first_dir = fingerprint_dir(f"runs/{name}", {**fingerprint, "train": recipe_key(config.train)})
    if continued is None:
        run_dir, recipe = first_dir, config.train
    else:  # the second cycle is a run of its own, named by the first cycle's whole recipe and its own
        fingerprint = {**fingerprint, "first": as_dict(config.train)}
        run_dir, recipe = fingerprint_dir(f"runs/{name}", {**fingerprint, "train": recipe_key(continued)}), continued
    published = Path("resume") / name
    wanted = {**fingerprint, "train": as_dict(recipe)}
    if not move_state(args.publish, args.resume, run_dir, published, wanted, name):
        return  # published: logs/ stay the committed model's until the run finishes

    torch.set_num_threads(params.threads)
    task = ChebyshevTask(**as_dict(config.task))
    batch = pretraining_batches(task, config.train.curriculum, params.seed)
    torch.manual_seed(params.seed)
    model = build_model(model_config)
    probe = progress_probe(task, config.progress) if config.progress.every else None
    before = None
    if continued is not None and not saved_step(run_dir):  # the second cycle starts from the first's end
        before = finished_first_cycle(model, name, fingerprint, config.train)
        if before is None:
            first = train(
                model,
                batch,
                config.train,
                first_dir,
                {k: v for k, v in fingerprint.items() if k != "first"},
                params.threads,
                desc=f"{name} (first cycle)",
                probe=probe,
                probe_every=config.progress.every,
            )
            before = Before.after(first)
        print(f"{name}: the second cycle starts from the first's step {before.step}")
    offset = config.train.steps if continued is not None else 0  # the data stream goes on after the first cycle
    summary = train(
        model,
        lambda step, size, points: batch(offset + step, size, points),
        recipe,
        run_dir,
        fingerprint,
        params.threads,
        desc=name,
        probe=probe,
        probe_every=config.progress.every,
        until=until,
        before=before,
    )
    if not PartialState().is_main_process:  # under `accelerate launch`, one process writes the outputs
        return
    second = {"continued": as_dict(continued), "sequences": summary["sequences"]} if continued is not None else {}
    save_checkpoint(
        model,
        base_model(name),
        model_config,
        stage=name,
        seed=params.seed,
        step=summary["step"],
        task=as_dict(config.task),
        train=as_dict(config.train),
        **second,
        wall_s=round(summary["train_s"], 1),
        threads=params.threads,
        torch=torch.__version__,
        parameters=count_parameters(model, trainable_only=False),
    )
    copy_atomic(summary["log"], training_log(base_model(name)))
    if summary["progress"]:
        copy_atomic(summary["progress"], progress_log(base_model(name)))
    print(f"{name}: {summary['step']} steps in {summary['train_s']:.0f} s, final loss {summary['final_loss']:.4f}")


if __name__ == "__main__":
    run_stage(main)
