"""Stage ``align``: the aligned model, full fine-tuning of the paper-size base model on clamped targets.

Starts from ``models/pretrain`` and trains every parameter on the stream of
:func:`polyground.alignment.align_batches` (``align`` in params.yaml). Outputs ``models/align/``
(safetensors + sidecar with the base checkpoint's sha256 and the fine-tuning budget: steps,
sequences, wall time) and ``logs/align.csv`` (training loss). A warmup-stable-decay run follows the
convergence rule (``convergence``, :func:`polyground.convergence.train_to_convergence`): its stable
phase is doubled until the loss and the held-out metrics are flat over its last quarter, or a cap;
the sidecar then records the verdict, and ``logs/align_progress.csv`` the held-out alignment metrics
along the run. A run with another schedule trains its fixed budget. Resumable like ``pretrain``
(``runs/align/``), and across machines the same way: ``--publish`` copies the run's state to
``resume/align/``, ``--continue`` resumes from it when it is further along than ``runs/``;
``--set NAME`` merges ``configs/NAME.yaml`` over params.yaml
(``scripts/long_run.sh continue align``; docs/long-run.md).

``--method M`` (stage ``align_peft``, M in ``align_peft.methods``: ``lora`` or ``soft_prompt_<P>``)
aligns through that PEFT method instead (``finetune.attach``; LoRA's rank and alpha from
``finetune``), on the same stream with the budget ``align_peft.train``, into ``models/align_peft/M/``
(adapter or prompt, ``finetune.save_finetuned``) and ``logs/align_peft/M.csv``.

``--setup S`` (stage ``align_setup``, S in ``align_setups``): the full fine-tuning of ``align`` with that
setup's share of clamped contexts and rate (the authors' data, every context clamped, and
other rates), by the convergence rule, into ``models/align_setups/S/`` and ``logs/align_setups/S*.csv``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..alignment import align_batches, check_threshold
from ..checkpoint import load_checkpoint, save_checkpoint
from ..config import ParamsError, as_dict, load_params
from ..convergence import ALIGN_SERIES, align_probe, check_lengthenable, run_key, train_by_rule
from ..files import copy_atomic
from ..finetune import attach, save_finetuned
from ..model import count_parameters
from ..paths import ALIGN, MODELS_DIR, PRETRAIN, peft_aligned_model, progress_log, setup_aligned_model, training_log
from ..run_state import fingerprint_dir, move_state
from ..tasks import ChebyshevTask, generator_for
from ..train import train
from . import run_stage


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m polyground.stages.align", description=__doc__)
    variant = parser.add_mutually_exclusive_group()
    variant.add_argument("--method", help="a PEFT method of align_peft.methods (default: full fine-tuning)")
    variant.add_argument("--setup", help="a setup of align_setups: other data or rate, by the convergence rule")
    parser.add_argument("--set", dest="set_name", help="a parameter set in configs/ merged over params.yaml")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--continue", dest="resume", action="store_true", help="resume from resume/<name>/ when further along"
    )
    mode.add_argument("--publish", action="store_true", help="copy the run's state to resume/<name>/; no training")
    args = parser.parse_args(argv)
    params = load_params(set_name=args.set_name)
    if args.method is not None and args.method not in params.align_peft.methods:
        raise ParamsError(
            f"--method {args.method!r} is not in align_peft.methods: choose one of "
            f"{', '.join(params.align_peft.methods)}"
        )
    if args.setup is not None and args.setup not in params.align_setups:
        raise ParamsError(
            f"--setup {args.setup!r} is not in align_setups: choose one of {', '.join(params.align_setups) or 'none'}"
        )
    config = params.align if args.setup is None else params.align_setup(args.setup)
    train_config = config.train if args.method is None else params.align_peft.train
    # the convergence rule (a setup always: it refuses a schedule other than wsd); else the fixed budget
    converging = train_config.schedule == "wsd" or args.setup is not None
    if converging:
        check_lengthenable(train_config)
    torch.set_num_threads(params.threads)
    task = ChebyshevTask(**as_dict(config.task))
    check_threshold(task.sample(10000, 1, generator_for(config.seed, "figure"))[1], config.threshold, "align.threshold")
    model, base = load_checkpoint(PRETRAIN, params.model, stage="pretrain")
    data = {  # align's data: what every variant shares (a PEFT method has its own train)
        "threshold": config.threshold,
        "clamped_context_fraction": config.clamped_context_fraction,
        "seed": config.seed,
        "task": as_dict(config.task),
    }
    fingerprint = {"stage": "align", "base_sha256": base["sha256"], "threads": params.threads, **data}
    if args.method is not None:
        fingerprint |= {"method": args.method, "lora": [params.finetune.lora_rank, params.finetune.lora_alpha]}
        model = attach(model, args.method, params.finetune, seed=config.seed)
    model.train()
    batch = align_batches(task, config.threshold, config.clamped_context_fraction, config.seed)
    out = ALIGN if args.method is None else peft_aligned_model(args.method)
    out = out if args.setup is None else setup_aligned_model(args.setup)
    name = str(out.relative_to(MODELS_DIR))  # the run's: align, align_peft/<method> or align_setups/<setup>
    rule = params.convergence
    run_dir = fingerprint_dir("runs/align", {**fingerprint, **run_key(train_config, rule, ALIGN_SERIES)})
    wanted = {**fingerprint, "train": as_dict(train_config)}
    if not move_state(args.publish, args.resume, run_dir, Path("resume") / name, wanted, name):
        return
    if converging:
        probe = align_probe(
            config.threshold, rule.margin, rule.probe_queries, rule.probe_seed,
            jailbreak_context=rule.jailbreak_context, defender_context=rule.defender_context,
        )  # fmt: skip
        summary, verdict = train_by_rule(
            model, batch, train_config, run_dir, fingerprint, params.threads, name.replace("/", "_"),
            rule, ALIGN_SERIES, probe,
        )  # fmt: skip
    else:
        summary = train(model, batch, train_config, run_dir, fingerprint, params.threads, desc=name.replace("/", "_"))
        verdict = None
    meta = {
        "step": summary["steps"],
        "sequences": summary["steps"] * train_config.batch_size,
        "wall_s": round(summary["wall_s"], 1),
        "align": as_dict(config) if args.method is None else data,
        "threads": params.threads,
        "torch": torch.__version__,
        "parameters": count_parameters(model),
    }
    if verdict is not None:
        meta["convergence"] = verdict
        copy_atomic(run_dir / "progress.csv", progress_log(out))
    if args.method is None:
        save_checkpoint(model, out, params.model, stage="align", base_sha256=base["sha256"], **meta)
    else:
        save_finetuned(model, out, args.method, params.model, base, train=as_dict(train_config), **meta)
    copy_atomic(summary["log"], training_log(out))
    print(f"{name}: {summary['steps']} steps in {summary['wall_s']:.0f} s, final loss {summary['final_loss']:.4f}")


if __name__ == "__main__":
    run_stage(main)
