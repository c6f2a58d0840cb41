"""A run's state: where it lives, what it holds, and how it is saved, checked, resumed and moved.

A run lives in ``runs/<kind>/<hash>/``, named by the hash of everything that determines it
(:func:`fingerprint_dir`; a run that may be lengthened is named by its recipe without its length,
:func:`recipe_key`, as the convergence rule names its runs: :func:`polyground.convergence.run_key`).
Every ``checkpoint_every`` steps the training loop (:func:`polyground.train.train`) saves there
``state.safetensors`` (the trainable parameters and the optimizer's tensors, the step in its
metadata), ``state.json`` (step, elapsed time, optimizer hyperparameters, the run's fingerprint),
``log.csv`` and, with a progress probe, ``progress.csv``.
Restarted with a compatible fingerprint (:func:`check_resumable`: equal but for the run's length,
:data:`LENGTH_KEYS`, and giving every step already taken the same learning rate, points and degree
cap), training continues from there and ends bit-identical to an uninterrupted run. Between machines,
``resume/<name>/`` holds a copy of a run directory, pushed to the DVC remote by scripts/long_run.sh
(docs/long-run.md): the stages' ``--publish`` and ``--continue`` (:func:`move_state`). Nothing here
unpickles: Accelerate's own ``save_state`` pickles the optimizer, so it is not used.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .config import ParamsError, TrainConfig, as_dict, build_config
from .curriculum import lr_at, points_at
from .errors import ResumeError
from .files import atomic_path, copy_atomic, write_atomic

LENGTH_KEYS = ("steps", "decay_steps", "checkpoint_every", "log_every")  # and curriculum.final_steps


def fingerprint_dir(root: str | Path, fingerprint: dict[str, Any]) -> Path:
    """A run directory named by the hash of everything that determines the run."""
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:12]
    return Path(root) / digest


def recipe_key(config: TrainConfig) -> dict:
    """The training config without its length: what names a run that may be lengthened."""
    recipe = {k: v for k, v in as_dict(config).items() if k not in LENGTH_KEYS}
    recipe["curriculum"] = {k: v for k, v in recipe["curriculum"].items() if k != "final_steps"}
    return recipe


def check_resumable(saved: dict, wanted: dict, steps_taken: int, run_dir: Path) -> None:
    """Raise :class:`ResumeError` unless the run ``wanted`` continues the ``saved`` one: equal
    fingerprints but for the length, and the same schedule on the ``steps_taken`` steps run."""
    old, new = dict(saved), dict(wanted)
    old_train, new_train = old.pop("train"), new.pop("train")
    differ = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    try:
        old_config, new_config = (build_config(TrainConfig, t, "train") for t in (old_train, new_train))
    except ParamsError as error:
        raise ResumeError(
            f"{run_dir} holds a training config this code cannot read ({error}); move it away to start afresh"
        ) from None
    old_recipe, new_recipe = recipe_key(old_config), recipe_key(new_config)
    differ += sorted(f"train.{k}" for k in old_recipe if old_recipe[k] != new_recipe[k])
    if differ:
        raise ResumeError(
            f"{run_dir} holds the state of a different run (it differs in {', '.join(differ)}); "
            "restore those parameters to continue it, or move it away to start afresh"
        )
    for step in range(steps_taken):
        same = lr_at(old_config, step) == lr_at(new_config, step) and points_at(
            old_config.curriculum, step, old_config.steps
        ) == points_at(new_config.curriculum, step, new_config.steps)
        if not same:
            raise ResumeError(
                f"{run_dir} has run {steps_taken} steps, but the new length changes the learning rate or points "
                f"of step {step}: the decay and the final phase must start after step {steps_taken} "
                f"(steps - decay_steps and steps - curriculum.final_steps >= {steps_taken})"
            )


def save_state(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, info: dict) -> None:
    optim = optimizer.state_dict()
    # the trainable parameters only: the frozen rest (a base model under an adapter) is rebuilt by
    # the caller, and may share memory with wrappers (peft), which safetensors refuses to save
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.named_parameters() if v.requires_grad}
    for index, state in optim["state"].items():
        for key, value in state.items():
            tensors[f"optim.{index}.{key}"] = value.detach().cpu().contiguous()
    groups = [{k: v for k, v in g.items()} for g in optim["param_groups"]]
    with atomic_path(run_dir / "state.safetensors") as tmp:
        save_file(tensors, str(tmp), metadata={"step": str(info["step"])})
    write_atomic(run_dir / "state.json", json.dumps({**info, "param_groups": groups}, indent=1))


def load_state(run_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    info = json.loads((run_dir / "state.json").read_text())
    with safe_open(str(run_dir / "state.safetensors"), "pt") as handle:
        tensor_step = (handle.metadata() or {}).get("step")
    if tensor_step != str(info["step"]):
        raise ResumeError(
            f"{run_dir}: state.safetensors is of step {tensor_step}, state.json of step "
            f"{info['step']} (copied while the run was writing?): copy both files again"
        )
    tensors = load_file(str(run_dir / "state.safetensors"))
    saved = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    trainable = {k for k, v in model.named_parameters() if v.requires_grad}
    if not trainable <= saved.keys():
        raise ResumeError(
            f"{run_dir} lacks parameters {sorted(trainable - saved.keys())[:3]}: move it away to start afresh"
        )
    model.load_state_dict({k: v for k, v in saved.items() if k in trainable}, strict=False)
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": info.pop("param_groups")})
    return info


def read_log(path: Path, up_to_step: int) -> list[dict]:
    """The rows of a run's log (``log.csv`` or ``progress.csv``) up to a step ([] if it has none)."""
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [row for row in csv.DictReader(handle) if int(row["step"]) <= up_to_step]


STATE_FILES = ("state.safetensors", "state.json", "log.csv", "progress.csv")


def saved_step(directory: Path) -> int:
    """The step of the run state in ``directory`` (0 if it holds none)."""
    path = directory / "state.json"
    return json.loads(path.read_text())["step"] if path.exists() else 0


def copy_state(source: Path, target: Path) -> None:
    """Copy a run state (the files that exist of :data:`STATE_FILES`), each atomically (a pair
    caught half-copied is refused on loading: the step is in both files)."""
    for name in STATE_FILES:
        if (source / name).exists():
            copy_atomic(source / name, target / name)


def move_state(publish: bool, resume: bool, run_dir: Path, published: Path, wanted: dict, name: str) -> bool:
    """A stage's ``--publish``: copy the run state of ``run_dir`` to ``published`` (``resume/<name>/``,
    pushed to the remote by scripts/long_run.sh) and train nothing (False). Its ``--continue``: when the
    published state is further along than ``run_dir``'s, check it is the run of the fingerprint
    ``wanted`` but for its length (:func:`check_resumable`; :func:`train` checks the schedule of the
    steps taken when it loads the state) and copy it into ``run_dir``. True: go on and train."""
    if publish:
        if not saved_step(run_dir):
            raise ResumeError(
                f"{run_dir} holds no run state to publish: start the run first (scripts/long_run.sh continue)"
            )
        copy_state(run_dir, published)
        print(f"{name}: published step {saved_step(published)} to {published}")
        return False
    if resume and saved_step(published) > saved_step(run_dir):
        info = json.loads((published / "state.json").read_text())
        check_resumable(info["fingerprint"], wanted, 0, published)
        print(
            f"{name}: continuing from the published state at step {info['step']} (runs/ had step {saved_step(run_dir)})"
        )
        copy_state(published, run_dir)
    return True
