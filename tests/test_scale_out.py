"""Scale-out through `accelerate launch`: two CPU processes train what one process trains."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import tiny_run
from conftest import ROOT

pytestmark = pytest.mark.slow
STEPS = 40


def _launch(args, tmp_path, name):
    out = tmp_path / f"{name}.safetensors"
    env = {**os.environ, "TINY_RUN_STEPS": str(STEPS), "PYTHONPATH": str(ROOT / "tests"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run([*args, str(ROOT / "tests" / "tiny_run.py"), str(tmp_path / name), str(out)],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return load_file(str(out)), (tmp_path / name / "log.csv").read_text().splitlines()


def test_two_cpu_processes_match_one(tmp_path):
    launcher = ["accelerate", "launch", "--cpu", "--num_processes", "2", "--num_machines", "1",
                "--mixed_precision", "no", "--dynamo_backend", "no"]
    two, two_log = _launch(launcher, tmp_path, "two")
    one, one_log = _launch([sys.executable], tmp_path, "one")
    model = tiny_run.build_model(tiny_run.MODEL)
    model.load_state_dict(two)  # the two-process checkpoint loads into the model
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5, msg=name)
    # Same global batch and data stream: the logged losses agree step by step.
    assert [r.split(",")[:2] for r in two_log] == [r.split(",")[:2] for r in one_log]
    for a, b in zip(two_log[1:], one_log[1:]):
        assert float(a.split(",")[3]) == pytest.approx(float(b.split(",")[3]), rel=1e-4)
