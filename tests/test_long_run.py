"""The long run's travel between machines: --publish copies the run state to resume/, and on a
machine without runs/ --continue resumes from it (the smoke set, in a temporary directory)."""

import shutil
import subprocess
import sys

import pytest
from safetensors.torch import load_file

from conftest import ROOT

STAGE = [sys.executable, "-m", "polyground.stages.pretrain", "--set", "smoke"]


def _run(args, cwd, check=True):
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    assert not check or result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def _workspace(tmp_path):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    return tmp_path


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A workspace whose smoke run finished and was published (``--publish``), and that command's output."""
    work = _workspace(tmp_path_factory.mktemp("published"))
    _run(STAGE, work)
    return work, _run(STAGE + ["--publish"], work).stdout


def _copy(published, tmp_path):
    return shutil.copytree(published[0], tmp_path / "work")


def test_published_state_continues_on_a_machine_without_runs(published, tmp_path):
    work = _copy(published, tmp_path)
    trained = load_file(work / "models" / "pretrain" / "model.safetensors")
    progress = (work / "logs" / "pretrain_progress.csv").read_text()
    assert progress.count("\n") == 4  # header + steps 20, 40, 60
    assert "published step 60" in published[1]
    assert {p.name for p in (work / "resume" / "pretrain").iterdir()} == {
        "state.safetensors", "state.json", "log.csv", "progress.csv"}
    shutil.rmtree(work / "runs")  # a fresh machine: only the published state
    shutil.rmtree(work / "models")
    out = _run(STAGE + ["--continue"], work).stdout
    assert "continuing from the published state at step 60" in out
    resumed = load_file(work / "models" / "pretrain" / "model.safetensors")
    assert resumed.keys() == trained.keys() and all((resumed[k] == trained[k]).all() for k in trained)
    assert (work / "logs" / "pretrain_progress.csv").read_text() == progress


def test_published_state_of_another_recipe_is_refused(published, tmp_path):
    work = _copy(published, tmp_path)
    shutil.rmtree(work / "runs")
    (work / "configs" / "other.yaml").write_text((work / "configs" / "smoke.yaml").read_text().replace(
        "warmup_steps: 10", "warmup_steps: 11"))
    result = _run([sys.executable, "-m", "polyground.stages.pretrain", "--set", "other", "--continue"], work, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: resume/pretrain holds the state of a different run (it differs in train.warmup_steps)" in result.stderr


def test_publish_without_a_run_says_how_to_start_it(tmp_path):
    result = _run(STAGE + ["--publish"], _workspace(tmp_path), check=False)
    assert result.returncode == 2 and "holds no run state to publish: start the run first" in result.stderr
