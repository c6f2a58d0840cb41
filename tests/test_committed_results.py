"""The committed results are what the recorded `dvc repro` wrote, checked against the quality targets."""

import hashlib
import json

import pytest
import yaml

from conftest import ROOT

METRICS = ROOT / "metrics" / "pretrain.json"


@pytest.fixture(scope="module")
def metrics():
    if not METRICS.exists():
        pytest.fail("metrics/pretrain.json is not committed: run `dvc repro` with the default params.yaml")
    return json.loads(METRICS.read_text())


@pytest.mark.parametrize("stage, path", [
    ("evaluate_pretrain", "metrics/pretrain.json"),
    ("evaluate_pretrain", "metrics/pretrain_curve.csv"),
    ("pretrain", "logs/pretrain.csv"),
])
def test_committed_outputs_are_what_the_recorded_run_wrote(stage, path):
    """dvc.lock's md5 of each small output matches the committed bytes (no hand-edited numbers)."""
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"][stage]
    recorded = {out["path"]: out["md5"] for out in lock["outs"]}
    assert hashlib.md5((ROOT / path).read_bytes()).hexdigest() == recorded[path]


def test_evaluation_size(metrics):
    assert metrics["num_sequences"] >= 10000 and metrics["points"] == 81


# Known unmet (strict: once a checkpoint meets the targets these XPASS and fail, and the marker must
# go). The committed checkpoint, 12,000 steps of the default recipe in 59 min on 2 cores, reaches
# mse@10/20/30 = 0.91/0.73/0.72 (metrics/pretrain.json); see README "Results" and "Performance".
UNMET = pytest.mark.xfail(strict=True, reason="pretrained checkpoint below the issue-2 quality targets")


@UNMET
@pytest.mark.parametrize("examples, ceiling", [(10, 0.35), (20, 0.08), (30, 0.04)])
def test_pretrained_quality(metrics, examples, ceiling):
    assert metrics["model"][f"mse@{examples}"] <= ceiling


def test_pretrained_beats_degree_11_least_squares_with_few_examples(metrics):
    assert metrics["model"]["mse@5"] < metrics["least_squares"]["mse@5"]
    assert metrics["model_minus_least_squares@5"] < 0
