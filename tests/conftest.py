"""Shared fixtures: the smoke parameter set and a tiny training setup."""

from __future__ import annotations

import subprocess
import sys
import time
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


@pytest.fixture(scope="package")  # the tests directory: one server for every test
def prestarted(tmp_path_factory):
    """A `python` whose `-m polyground.*` commands fork from one process that imported torch and the
    rest once (polyground.prestart): a stage's command-line checks without ~5 s of start-up each."""
    directory = tmp_path_factory.mktemp("prestart")
    server = subprocess.Popen([sys.executable, "-m", "polyground.prestart", "--dir", str(directory)])
    try:
        for _ in range(1200):
            if (directory / "python").exists() or server.poll() is not None:
                break
            time.sleep(0.1)
        assert (directory / "python").exists(), "the prestart server did not start"
        yield str(directory / "python")
    finally:
        server.terminate()
        server.wait()
