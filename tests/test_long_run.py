"""The long run's travel between machines: --publish copies the run state to resume/, and on a
machine without runs/ --continue resumes from it (the smoke set, in a temporary directory)."""

import json
import os
import shutil
import subprocess

import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT

STAGE = ["-m", "polyground.stages.pretrain", "--set", "smoke"]  # after a python (the prestarted one)


def _run(args, cwd, check=True):
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    assert not check or result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def _workspace(tmp_path):
    tmp_path.mkdir(exist_ok=True)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    return tmp_path


@pytest.fixture(scope="module")
def published(tmp_path_factory, prestarted):
    """A workspace whose smoke run finished and was published (``--publish``), and that command's output."""
    work = _workspace(tmp_path_factory.mktemp("published"))
    _run([prestarted, *STAGE], work)
    return work, _run([prestarted, *STAGE, "--publish"], work).stdout


def _copy(published, tmp_path):
    return shutil.copytree(published[0], tmp_path / "work")


def test_published_state_continues_on_a_machine_without_runs(published, tmp_path, prestarted):
    work = _copy(published, tmp_path)
    trained = load_file(work / "models" / "pretrain" / "model.safetensors")
    progress = (work / "logs" / "pretrain_progress.csv").read_text()
    assert progress.count("\n") == 4  # header + steps 20, 40, 60
    assert "published step 60" in published[1]
    assert {p.name for p in (work / "resume" / "pretrain").iterdir()} == {
        "state.safetensors",
        "state.json",
        "log.csv",
        "progress.csv",
    }
    shutil.rmtree(work / "runs")  # a fresh machine: only the published state
    shutil.rmtree(work / "models")
    out = _run([prestarted, *STAGE, "--continue"], work).stdout
    assert "continuing from the published state at step 60" in out
    resumed = load_file(work / "models" / "pretrain" / "model.safetensors")
    assert resumed.keys() == trained.keys() and all((resumed[k] == trained[k]).all() for k in trained)
    assert (work / "logs" / "pretrain_progress.csv").read_text() == progress


def test_published_state_of_another_recipe_is_refused(published, tmp_path, prestarted):
    work = _copy(published, tmp_path)
    shutil.rmtree(work / "runs")
    (work / "configs" / "other.yaml").write_text(
        (work / "configs" / "smoke.yaml").read_text().replace("warmup_steps: 10", "warmup_steps: 11")
    )
    result = _run([prestarted, "-m", "polyground.stages.pretrain", "--set", "other", "--continue"], work, check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        "error: resume/pretrain holds the state of a different run (it differs in train.warmup_steps)" in result.stderr
    )


def test_publish_without_a_run_says_how_to_start_it(tmp_path, prestarted):
    result = _run([prestarted, *STAGE, "--publish"], _workspace(tmp_path), check=False)
    assert result.returncode == 2 and "holds no run state to publish: start the run first" in result.stderr


CONTINUED = """
  continued:   # a second cycle of 40 steps from the first's end
    steps: 40
    batch_size: 16
    lr: 0.0005
    schedule: wsd
    warmup_steps: 5
    decay_steps: 20
    min_lr_ratio: 0.0
    curriculum: {points_start: 31, points_end: 31, degree_start: 11, final_points: 41, final_every: 4}
    checkpoint_every: 20
    log_every: 10
"""


def _with_second_cycle(work, python):
    smoke = (work / "configs" / "smoke.yaml").read_text()
    one_cycle = next(line for line in smoke.splitlines(True) if line.startswith("  continued: null"))
    (work / "configs" / "continued.yaml").write_text(smoke.replace(one_cycle, CONTINUED.lstrip("\n")))
    return [python, "-m", "polyground.stages.pretrain", "--set", "continued"]


def test_second_cycle_starts_from_the_first_cycles_checkpoint_as_from_its_run(published, tmp_path, prestarted):
    """The second cycle from models/pretrain (the first cycle's end; runs/ lost) equals the whole run
    trained from nothing, and its logs continue the first cycle's; published and continued on a
    machine without runs/, it ends the same."""
    work = _copy(published, tmp_path)
    shutil.rmtree(work / "runs")
    stage = _with_second_cycle(work, prestarted)
    assert "the second cycle starts from the first's step 60" in _run(stage, work).stdout
    from_checkpoint = load_file(work / "models" / "pretrain" / "model.safetensors")
    meta = json.loads((work / "models" / "pretrain" / "model.json").read_text())
    assert (meta["step"], meta["sequences"], meta["continued"]["steps"]) == (100, 100 * 16, 40)
    progress = (work / "logs" / "pretrain_progress.csv").read_text().splitlines()
    assert [int(row.split(",")[0]) for row in progress[1:]] == [20, 40, 60, 80, 100]
    assert float(progress[4].split(",")[2]) > float(progress[3].split(",")[2])  # training seconds go on

    fresh = _workspace(tmp_path / "fresh")
    _run(_with_second_cycle(fresh, prestarted), fresh)
    whole = load_file(fresh / "models" / "pretrain" / "model.safetensors")
    assert all(torch.equal(whole[k], from_checkpoint[k]) for k in whole)

    _run(stage + ["--publish"], work)
    shutil.rmtree(work / "runs")
    shutil.rmtree(work / "models")
    assert "continuing from the published state at step 40" in _run(stage + ["--continue"], work).stdout
    resumed = load_file(work / "models" / "pretrain" / "model.safetensors")
    assert all(torch.equal(resumed[k], whole[k]) for k in whole)


def test_the_aligned_models_run_is_published_and_continued_the_same_way(published, tmp_path, prestarted):
    """align (the convergence rule's run, smoke set) travels like pretrain: published, then continued on
    a machine without runs/ and models/align, it ends with the same weights and verdict."""
    work = _copy(published, tmp_path)
    align = [prestarted, "-m", "polyground.stages.align", "--set", "smoke"]
    _run(align, work)
    trained = load_file(work / "models" / "align" / "model.safetensors")
    verdict = json.loads((work / "models" / "align" / "model.json").read_text())["convergence"]
    assert "align: published step" in _run(align + ["--publish"], work).stdout
    shutil.rmtree(work / "runs")
    shutil.rmtree(work / "models" / "align")
    assert "continuing from the published state" in _run(align + ["--continue"], work).stdout
    resumed = load_file(work / "models" / "align" / "model.safetensors")
    assert all(torch.equal(resumed[k], trained[k]) for k in trained)
    assert json.loads((work / "models" / "align" / "model.json").read_text())["convergence"] == verdict


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({}, ["status", "finetune"], "error: no long run named 'finetune': choose pretrain or align"),
        ({"POLYGROUND_LONG_SETUP": "authors"}, ["status", "pretrain"], "error: POLYGROUND_LONG_SETUP names a setup"),
    ],
)
def test_the_long_run_script_refuses_what_it_cannot_run(env, args, message):
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "long_run.sh"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert result.returncode == 2 and result.stderr.startswith(message)
