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


@pytest.mark.parametrize(
    "stage, path",
    [
        ("evaluate_pretrain", "metrics/pretrain.json"),
        ("evaluate_pretrain", "metrics/pretrain_curve.csv"),
        ("pretrain", "logs/pretrain.csv"),
    ],
)
def test_committed_outputs_are_what_the_recorded_run_wrote(stage, path):
    """dvc.lock's md5 of each small output matches the committed bytes (no hand-edited numbers)."""
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"][stage]
    recorded = {out["path"]: out["md5"] for out in lock["outs"]}
    assert hashlib.md5((ROOT / path).read_bytes()).hexdigest() == recorded[path]


def test_evaluation_size(metrics):
    assert metrics["num_sequences"] >= 10000 and metrics["points"] == 81


# Known unmet (strict: once a checkpoint meets the targets these XPASS and fail, and the marker must
# go): the base model's targets. The committed checkpoint, the long run's two cycles (125,000
# steps, 8.2 training hours on 2 cores), misses them (metrics/pretrain.json; docs/long-run.md).
UNMET = pytest.mark.xfail(strict=True, reason="pretrained checkpoint below the base model's quality targets")


@UNMET
@pytest.mark.parametrize("examples, ceiling", [(10, 0.25), (20, 0.05), (30, 0.02), (80, 0.01)])
def test_pretrained_quality(metrics, examples, ceiling):
    assert metrics["model"][f"mse@{examples}"] <= ceiling


def test_pretrained_beats_degree_11_least_squares_with_few_examples(metrics):
    assert metrics["model"]["mse@5"] < metrics["least_squares"]["mse@5"]
    low, high = metrics["intervals"]["model_minus_least_squares.mse@5"]  # paired by sequence
    difference = metrics["model_minus_least_squares"]["mse@5"]
    assert low <= difference <= high < 0
