"""Shared fixtures: the smoke parameter set and a tiny training setup."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from polyground.config import Params, merge, params_from_dict

ROOT = Path(__file__).resolve().parents[1]


def smoke_dict() -> dict:
    """params.yaml with configs/smoke.yaml applied, as a mapping."""
    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    return merge(base, yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text()))


@pytest.fixture
def smoke_params() -> Params:
    return params_from_dict(smoke_dict())
