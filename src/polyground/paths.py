"""The artifact paths that more than one module reads (dvc.yaml declares the same paths as outs)."""

from __future__ import annotations

from pathlib import Path

PRETRAIN = "models/pretrain"  # the base checkpoint (stage pretrain)
ALIGN = "models/align"  # the aligned model, full fine-tuning (stage align)
ALIGN_PEFT = Path("models/align_peft")  # the PEFT-aligned models, one directory per method (stage align_peft)
PRETRAIN_CURVE = "metrics/pretrain_curve.csv"  # the base's error curves (stage evaluate_pretrain)
CLAMPING_CURVES = Path("metrics/clamping")  # the in-context clamping curves (stage evaluate_clamping)
CHUNKS = Path("metrics/chunks")  # per evaluation stage, the chunk means its intervals are computed from


def chunks_path(stage: str) -> Path:
    """The chunk means of an evaluation stage (``polyground.intervals``)."""
    return CHUNKS / f"{stage}.json"
