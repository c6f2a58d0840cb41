"""Checkpoints: ``model.safetensors`` plus ``model.json`` (format, step, config, sha256).

Nothing here unpickles: weights are safetensors, metadata is JSON. Files are written to a
temporary name and renamed, so a failed run never leaves a half-written checkpoint in place of a
good one. Loading checks presence, the sha256 recorded at save time, and the architecture; an aligned
model is refused when it was aligned from another base than the one beside it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_model, save_model
from torch import nn

from .config import ModelConfig, as_dict
from .errors import CheckpointError
from .files import atomic_path, write_atomic
from .model import InContextRegressor
from .paths import ALIGN, PRETRAIN

FORMAT = "polyground-checkpoint/1"
WEIGHTS, META = "model.safetensors", "model.json"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_model(config: ModelConfig) -> InContextRegressor:
    """A fresh model of the configured size."""
    return InContextRegressor(config.n_embd, config.n_layer, config.n_head, 2 * config.max_points)


def save_checkpoint(model: nn.Module, directory: str | Path, model_config: ModelConfig, **meta: Any) -> Path:
    """Save weights and sidecar into ``directory``; returns the weights path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = directory / WEIGHTS
    with atomic_path(weights) as tmp:
        save_model(model, str(tmp))
        record = {"format": FORMAT, "model": as_dict(model_config), **meta, "sha256": sha256_of(tmp)}
    write_atomic(directory / META, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return weights


def _fix(directory: Path, stage: str) -> str:
    return f"fetch it with `dvc pull {directory}` or rebuild it with `dvc repro {stage}`"


def read_metadata(directory: str | Path, stage: str = "pretrain") -> dict:
    """The verified sidecar of a checkpoint (presence, format and sha256 checked)."""
    directory = Path(directory)
    weights, meta_path = directory / WEIGHTS, directory / META
    for path in (weights, meta_path):
        if not path.is_file():
            raise CheckpointError(f"checkpoint file {path} is missing: {_fix(directory, stage)}")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{meta_path} is corrupt ({error}): {_fix(directory, stage)}") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_path} is not a {FORMAT} sidecar: {_fix(directory, stage)}")
    actual = sha256_of(weights)
    if actual != meta.get("sha256"):
        raise CheckpointError(
            f"{weights} is corrupt: sha256 {actual[:12]}... does not match the recorded "
            f"{str(meta.get('sha256'))[:12]}... (truncated or modified file): {_fix(directory, stage)}"
        )
    return meta


def load_checkpoint(
    directory: str | Path, expected: ModelConfig | None = None, stage: str = "pretrain"
) -> tuple[InContextRegressor, dict]:
    """Load a verified checkpoint; ``expected`` (if given) must match its architecture."""
    directory = Path(directory)
    meta = read_metadata(directory, stage)
    config = ModelConfig(**meta["model"])
    if expected is not None and as_dict(expected) != as_dict(config):
        raise CheckpointError(
            f"checkpoint {directory} was trained with model {as_dict(config)}, but params.yaml asks "
            f"for {as_dict(expected)}: {_fix(directory, stage)}"
        )
    model = build_model(config)
    try:
        load_model(model, str(directory / WEIGHTS), strict=True)
    except (SafetensorError, RuntimeError) as error:
        raise CheckpointError(f"{directory / WEIGHTS} cannot be loaded ({error}): {_fix(directory, stage)}") from None
    return model.eval(), meta


def load_aligned(params, directory: str | Path, base_meta: dict) -> tuple[nn.Module, dict]:
    """An aligned checkpoint (``align``'s or an ``align_setup``'s; verified), refusing one aligned from
    another base than ``base_meta``'s."""
    aligned, meta = load_checkpoint(directory, params.model, stage="align")
    if meta.get("base_sha256") != base_meta["sha256"]:
        stage = "align" if Path(directory) == Path(ALIGN) else f"align_setup@{Path(directory).name}"
        raise CheckpointError(
            f"{directory} was fine-tuned from another base checkpoint than {PRETRAIN}: rebuild it with "
            f"`dvc repro {stage}`"
        )
    return aligned, meta


def load_base_and_aligned(params) -> tuple[nn.Module, dict, nn.Module, dict]:
    """The base and aligned checkpoints (verified), refusing an aligned model of another base."""
    base, base_meta = load_checkpoint(PRETRAIN, params.model, stage="pretrain")
    return base, base_meta, *load_aligned(params, ALIGN, base_meta)
