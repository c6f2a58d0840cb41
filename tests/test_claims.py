"""The stored claims: the committed metrics satisfy them, and a tampered metric is caught by name."""

import json
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from polyground.claims import load_claims, lookup, verify

CLAIMS = load_claims(ROOT / "paper" / "claims.yaml")
VALUE_CLAIMS = [c for c in CLAIMS if "value" in c]


def test_committed_metrics_satisfy_every_claim():
    failed = [r for r in verify(CLAIMS, "reevaluate", ROOT) if not r["passed"]]
    assert not failed, f"claims failing on the committed metrics: {failed}"


@pytest.mark.parametrize("claim", VALUE_CLAIMS, ids=[c["id"] for c in VALUE_CLAIMS])
def test_expected_values_were_recorded_from_the_metrics(claim):
    """`claims record` wrote them (not typed): they equal the committed metrics, and both tolerances exist."""
    assert claim["expected"] == round(lookup(claim["value"], ROOT), 6)
    assert {"reevaluate", "retrain"} <= set(claim["tolerance"])
    assert claim["tolerance"]["retrain"]["rel"] >= claim["tolerance"]["reevaluate"]["rel"]


def _verify_copy(tmp_path, edit):
    """Run the verifier CLI on a copy of the metrics changed by ``edit(metrics_dict)``."""
    shutil.copytree(ROOT / "metrics", tmp_path / "metrics")
    path = tmp_path / "metrics" / "pretrain.json"
    metrics = json.loads(path.read_text())
    edit(metrics)
    path.write_text(json.dumps(metrics))
    return subprocess.run(
        [sys.executable, "-m", "polyground.claims", "verify", "--root", str(tmp_path),
         "--claims", str(ROOT / "paper" / "claims.yaml")],
        capture_output=True, text=True,
    )


def test_untouched_copy_passes(tmp_path):
    result = _verify_copy(tmp_path, lambda m: None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "reports" / "claims.md").read_text().count("| PASS |") == len(CLAIMS)


def test_value_moved_beyond_tolerance_fails_that_claim(tmp_path):
    claim = next(c for c in VALUE_CLAIMS if c["value"].endswith("model.mse@10"))
    tol = claim["tolerance"]["reevaluate"]
    moved = claim["expected"] + 2 * (tol["abs"] + tol["rel"] * abs(claim["expected"]))

    def edit(m):
        m["model"]["mse@10"] = moved

    result = _verify_copy(tmp_path, edit)
    assert result.returncode == 1
    assert f"FAILED: {claim['id']}" in result.stdout
    report = json.loads((tmp_path / "reports" / "claims.json").read_text())
    assert [r["id"] for r in report["claims"] if not r["passed"]] == [claim["id"]]


def test_value_within_tolerance_still_passes(tmp_path):
    claim = next(c for c in VALUE_CLAIMS if c["value"].endswith("model.mse@10"))
    tol = claim["tolerance"]["reevaluate"]

    def edit(m):
        m["model"]["mse@10"] = claim["expected"] + 0.5 * (tol["abs"] + tol["rel"] * abs(claim["expected"]))

    assert _verify_copy(tmp_path, edit).returncode == 0


def test_broken_ordering_fails_that_claim(tmp_path):
    def edit(m):
        m["zero"]["mse@5"] = m["model"]["mse@5"] / 2

    result = _verify_copy(tmp_path, edit)
    assert result.returncode == 1 and "FAILED: pretrain.model_beats_zero_predictor" in result.stdout


def test_missing_metrics_file_fails_with_reason(tmp_path):
    (tmp_path / "metrics").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "polyground.claims", "verify", "--root", str(tmp_path),
         "--claims", str(ROOT / "paper" / "claims.yaml")], capture_output=True, text=True,
    )
    assert result.returncode == 1 and "missing" in result.stdout and "Traceback" not in result.stderr


def test_lookup_reads_keys_that_hold_dots(tmp_path):
    (tmp_path / "m.json").write_text('{"lrs": {"0.05": {"mse@30": 1.5}, "5e-05": {"mse@30": 2.5}}}')
    assert lookup("m.json:lrs.0.05.mse@30", tmp_path) == 1.5
    assert lookup("m.json:lrs.5e-05.mse@30", tmp_path) == 2.5
    with pytest.raises(KeyError):
        lookup("m.json:lrs.0.5.mse@30", tmp_path)
