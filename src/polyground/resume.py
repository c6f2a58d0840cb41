"""A run's state between machines: ``resume/<name>/`` holds a copy of ``runs/<name>/<hash>/`` (the
weights and optimizer state, the logs), pushed to the DVC remote by scripts/long_run.sh from time to time
so that a run longer than one machine's stay continues elsewhere (docs/long-run.md). The stages ``pretrain``
and ``align`` use it through their ``--publish`` and ``--continue``."""

from __future__ import annotations

import json
from pathlib import Path

from .files import copy_atomic
from .train import ResumeError, check_resumable

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
