import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from polyground.checkpoint import build_model
from polyground.config import CurriculumConfig, ProgressConfig, TrainConfig, replace
from polyground.curriculum import degree_at, lr_at, points_at
from polyground.errors import ResumeError
from polyground.evaluate import progress_probe
from polyground.train import train

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
    process = subprocess.Popen(
        [sys.executable, script, str(killed), str(tmp_path / "k.safetensors")], env=env, stderr=subprocess.DEVNULL
    )
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
    subprocess.run(
        [sys.executable, script, str(killed), str(tmp_path / "k.safetensors")],
        env=env,
        check=True,
        stderr=subprocess.DEVNULL,
    )
    subprocess.run(
        [sys.executable, script, str(tmp_path / "whole"), str(tmp_path / "w.safetensors")],
        env=env,
        check=True,
        stderr=subprocess.DEVNULL,
    )
    resumed, whole = load_file(tmp_path / "k.safetensors"), load_file(tmp_path / "w.safetensors")
    assert all(torch.equal(resumed[k], whole[k]) for k in whole)
    steps = [int(line.split(",")[0]) for line in (killed / "log.csv").read_text().splitlines()[1:]]
    assert steps == list(range(5, tiny_run.CONFIG.steps + 1, 5)), "log rows lost or repeated on resume"


def test_state_of_another_run_is_refused(tmp_path):
    tiny_run.run(str(tmp_path / "a"), replace(SHORT, steps=10))
    with pytest.raises(ResumeError, match="different run"):
        tiny_run.run(str(tmp_path / "a"), replace(SHORT, steps=10, lr=1e-2))


WSD = replace(
    SHORT,
    schedule="wsd",
    decay_steps=10,
    min_lr_ratio=0.0,
    curriculum=replace(SHORT.curriculum, final_points=21, final_steps=5),
)


class Stopped(Exception):
    """Stands for the kill of a run that would have gone on much longer."""


def stop_at(stop: int):
    """The tiny run's batches, until ``stop``, where the run is stopped (as by a kill)."""

    def batch(step, batch_size, n_points):
        if step == stop:
            raise Stopped
        return tiny_run.batch(step, batch_size, n_points)

    return batch


def test_wsd_run_lengthened_before_its_decay_equals_the_longer_run(tmp_path):
    """The long run's rule: stopped in its stable phase, it continues with the length set later."""
    torch.manual_seed(0)
    with pytest.raises(Stopped):  # provisional length 1000: stopped at step 20, in the stable phase
        train(
            build_model(tiny_run.MODEL),
            stop_at(20),
            replace(WSD, steps=1000),
            tmp_path / "grown",
            {"test": "tiny"},
            threads=1,
        )
    with pytest.raises(ResumeError, match="step 15"):  # a 25-step run's decay starts at step 15
        tiny_run.run(str(tmp_path / "grown"), replace(WSD, steps=25))
    grown = tiny_run.run(str(tmp_path / "grown"), WSD)  # 30 steps: the decay starts at step 20
    whole = tiny_run.run(str(tmp_path / "whole"), WSD)
    assert all(torch.equal(grown[k], whole[k]) for k in whole)


def test_a_snapshot_is_a_state_of_the_same_run(tmp_path):
    """``until`` stops the run at that step: continued to the end, it is the uninterrupted run."""
    early = tiny_run.run(str(tmp_path / "snapshot"), WSD, until=12)
    assert json.loads((tmp_path / "snapshot" / "state.json").read_text())["step"] == 12
    grown = tiny_run.run(str(tmp_path / "snapshot"), WSD)
    whole = tiny_run.run(str(tmp_path / "whole"), WSD)
    assert all(torch.equal(grown[k], whole[k]) for k in whole)
    assert not all(torch.equal(early[k], whole[k]) for k in whole)


def test_state_pair_of_two_steps_is_refused(tmp_path):
    tiny_run.run(str(tmp_path / "a"), replace(SHORT, steps=10))
    tiny_run.run(str(tmp_path / "b"), replace(SHORT, steps=15))
    (tmp_path / "b" / "state.json").replace(tmp_path / "a" / "state.json")  # a copy caught mid-write
    with pytest.raises(ResumeError, match="copy both files again"):
        tiny_run.run(str(tmp_path / "a"), SHORT)


def test_progress_probe_is_logged_and_resumed(tmp_path):
    config = ProgressConfig(every=10, num_sequences=24, points=21, examples=[2, 20], degree_examples=[5])
    probe = {"probe": progress_probe(tiny_run.TASK, config), "probe_every": 10}
    torch.manual_seed(0)
    with pytest.raises(Stopped):
        train(build_model(tiny_run.MODEL), stop_at(25), SHORT, tmp_path / "a", {"test": "tiny"}, threads=1, **probe)
    tiny_run.run(str(tmp_path / "a"), SHORT, **probe)
    lines = (tmp_path / "a" / "progress.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[:6] == ["step", "sequences", "train_s", "eval_s", "peak_rss_mib", "device"]
    assert header[6:] == ["mse@2", "mse@20"] + [f"mse@5_deg{d}" for d in range(6)]
    assert [int(line.split(",")[0]) for line in lines[1:]] == [10, 20, 30, 40]
    errors = [float(line.split(",")[header.index("mse@20")]) for line in lines[1:]]
    assert all(e > 0 for e in errors) and errors[-1] < errors[0]


def test_probe_steps_measure_nested_budgets_and_a_shorter_run_is_refused(tmp_path):
    calls = []
    probe = {"probe": lambda model: calls.append(1) or {"n": float(len(calls))}, "probe_steps": frozenset({3, 7, 20})}
    constant = replace(SHORT, schedule="constant", steps=20, curriculum=replace(SHORT.curriculum, final_points=5))
    # (a shorter length of it changes no step taken: only the loop itself can refuse it)
    tiny_run.run(str(tmp_path / "a"), constant, **probe)
    lines = (tmp_path / "a" / "progress.csv").read_text().splitlines()
    assert [int(line.split(",")[0]) for line in lines[1:]] == [3, 7, 20]
    with pytest.raises(ResumeError, match="holds step 20, beyond this run's 10 steps"):
        tiny_run.run(str(tmp_path / "a"), replace(constant, steps=10))


def test_points_curriculum():
    curriculum = CurriculumConfig(points_start=5, points_end=81, points_step=2, step_every=2000)
    assert [points_at(curriculum, s, 10**8) for s in (0, 1999, 2000, 4000, 10**7)] == [5, 5, 7, 9, 81]


def test_final_long_context_phase():
    curriculum = CurriculumConfig(
        points_start=11, points_end=31, points_step=10, step_every=100, final_points=81, final_steps=50
    )
    assert [points_at(curriculum, s, 1000) for s in (0, 100, 500, 949, 950, 999)] == [11, 21, 31, 31, 81, 81]


def test_long_context_every_kth_step():
    curriculum = CurriculumConfig(
        points_start=11, points_end=31, points_step=10, step_every=100, final_points=81, final_every=4
    )
    assert [points_at(curriculum, s, 1000) for s in (0, 1, 3, 4, 101, 104, 999)] == [81, 11, 11, 81, 21, 81, 31]


def test_lr_schedule_warmup_then_cosine_to_floor():
    config = TrainConfig(steps=1000, lr=1e-3, warmup_steps=100, min_lr_ratio=0.1)
    assert lr_at(config, 0) == pytest.approx(1e-5)
    assert lr_at(config, 99) == pytest.approx(1e-3)
    assert lr_at(config, 550) == pytest.approx(0.55e-3)
    assert lr_at(config, 1000) == pytest.approx(1e-4)
    assert lr_at(replace(config, schedule="constant"), 900) == 1e-3


def test_lr_schedule_warmup_stable_then_linear_decay():
    config = TrainConfig(steps=1000, lr=1e-3, warmup_steps=100, schedule="wsd", decay_steps=200, min_lr_ratio=0.0)
    assert lr_at(config, 99) == pytest.approx(1e-3)
    assert lr_at(config, 799) == 1e-3
    assert lr_at(config, 899) == pytest.approx(0.5e-3)
    assert lr_at(config, 999) == 0.0


def test_degree_curriculum():
    curriculum = CurriculumConfig(degree_start=1, degree_every=150)
    assert [degree_at(curriculum, s, 11) for s in (0, 149, 150, 1500, 10**6)] == [1, 1, 2, 11, 11]
    assert degree_at(CurriculumConfig(degree_start=30), 0, 11) == 11


def test_a_finished_run_re_entered_reports_the_same_summary(tmp_path):
    """A stage re-run on a finished run dir (code changed, same recipe) trains nothing and writes the
    same checkpoint sidecar: its wall time is the one saved with the last state, not this call's."""
    config, model = replace(tiny_run.CONFIG, steps=10), build_model(tiny_run.MODEL)
    first = train(model, tiny_run.batch, config, tmp_path, {"test": "tiny"}, threads=1, desc="tiny")
    time.sleep(0.2)
    again = train(
        build_model(tiny_run.MODEL), tiny_run.batch, config, tmp_path, {"test": "tiny"}, threads=1, desc="tiny"
    )
    assert again == first
    assert first["wall_s"] == json.loads((tmp_path / "state.json").read_text())["elapsed_s"]
