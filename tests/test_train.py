import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from polyground.config import CurriculumConfig, TrainConfig
from polyground.curriculum import degree_at, lr_at, points_at
from polyground.train import ResumeError

sys.path.insert(0, str(Path(__file__).parent))
import tiny_run  # noqa: E402

SHORT = replace(tiny_run.CONFIG, steps=40)


def test_same_seed_same_weights_bit_for_bit(tmp_path):
    a = tiny_run.run(str(tmp_path / "a"), SHORT)
    b = tiny_run.run(str(tmp_path / "b"), SHORT)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_training_reduces_the_loss(tmp_path):
    tiny_run.run(str(tmp_path / "a"), replace(SHORT, steps=150))
    lines = (tmp_path / "a" / "log.csv").read_text().splitlines()[1:]
    losses = [float(line.split(",")[3]) for line in lines]
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.parametrize("compiled", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_killed_run_resumes_to_the_same_weights(tmp_path, compiled):
    """SIGKILL a run after its first checkpoints, restart it, compare with an uninterrupted run."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "TINY_RUN_COMPILE": str(int(compiled))}
    script = str(Path(tiny_run.__file__))
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, script, str(killed), str(tmp_path / "k.safetensors")], env=env,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        state = killed / "state.json"
        if state.exists() and json.loads(state.read_text())["step"] >= 10:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stopped_at = json.loads((killed / "state.json").read_text())["step"]
    assert stopped_at < tiny_run.CONFIG.steps, "the run finished before it could be killed"
    subprocess.run([sys.executable, script, str(killed), str(tmp_path / "k.safetensors")], env=env, check=True,
                   stderr=subprocess.DEVNULL)
    subprocess.run([sys.executable, script, str(tmp_path / "whole"), str(tmp_path / "w.safetensors")], env=env,
                   check=True, stderr=subprocess.DEVNULL)
    resumed, whole = load_file(tmp_path / "k.safetensors"), load_file(tmp_path / "w.safetensors")
    assert all(torch.equal(resumed[k], whole[k]) for k in whole)
    steps = [int(line.split(",")[0]) for line in (killed / "log.csv").read_text().splitlines()[1:]]
    assert steps == list(range(5, tiny_run.CONFIG.steps + 1, 5)), "log rows lost or repeated on resume"


def test_state_of_another_run_is_refused(tmp_path):
    tiny_run.run(str(tmp_path / "a"), replace(SHORT, steps=10))
    with pytest.raises(ResumeError, match="different run"):
        tiny_run.run(str(tmp_path / "a"), replace(SHORT, steps=10, lr=1e-2))


def test_points_curriculum():
    curriculum = CurriculumConfig(points_start=5, points_end=81, points_step=2, step_every=2000)
    assert [points_at(curriculum, s, 10**8) for s in (0, 1999, 2000, 4000, 10**7)] == [5, 5, 7, 9, 81]



def test_final_long_context_phase():
    curriculum = CurriculumConfig(points_start=11, points_end=31, points_step=10, step_every=100,
                                  final_points=81, final_steps=50)
    assert [points_at(curriculum, s, 1000) for s in (0, 100, 500, 949, 950, 999)] == [11, 21, 31, 31, 81, 81]


def test_lr_schedule_warmup_then_cosine_to_floor():
    config = TrainConfig(steps=1000, lr=1e-3, warmup_steps=100, min_lr_ratio=0.1)
    assert lr_at(config, 0) == pytest.approx(1e-5)
    assert lr_at(config, 99) == pytest.approx(1e-3)
    assert lr_at(config, 550) == pytest.approx(0.55e-3)
    assert lr_at(config, 1000) == pytest.approx(1e-4)
    assert lr_at(replace(config, schedule="constant"), 900) == 1e-3


def test_degree_curriculum():
    curriculum = CurriculumConfig(degree_start=1, degree_every=150)
    assert [degree_at(curriculum, s, 11) for s in (0, 149, 150, 1500, 10**6)] == [1, 1, 2, 11, 11]
    assert degree_at(CurriculumConfig(degree_start=30), 0, 11) == 11
