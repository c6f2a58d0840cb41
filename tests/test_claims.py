"""The stored claims: both verdicts, a tampered metric caught by name, and no check that passes vacuously."""

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT
from polyground.claims import (
    REEVALUATE,
    VERDICTS,
    ClaimsError,
    check,
    holds_on_paper_values,
    interval,
    kind,
    load_claims,
    lookup,
    metric_refs,
    verify,
)

CLAIMS = load_claims(ROOT / "paper" / "claims.yaml")


def test_committed_metrics_regenerate_every_claim():
    failed = [r for r in verify(CLAIMS, "reevaluate", ROOT) if not r["passed"]]
    assert not failed, f"claims whose metrics moved from the recorded ones: {failed}"


@pytest.mark.parametrize("claim", CLAIMS, ids=[c["id"] for c in CLAIMS])
def test_recorded_values_and_verdicts_come_from_the_metrics(claim):
    """`claims record` wrote them (not typed): they equal the committed metrics."""
    assert claim["recorded"] == {ref: round(lookup(ref, ROOT), 6) for ref in metric_refs(claim)}
    bounds = {ref: interval(ref, ROOT) for ref in metric_refs(claim)}
    assert claim.get("recorded_intervals", {}) == {r: [round(b, 6) for b in v] for r, v in bounds.items() if v}
    assert claim["verdict"] == check(claim, "reevaluate", ROOT)["verdict"]


PAPER_CLAIMS = [c for c in CLAIMS if c.get("paper") and not c.get("source")]


@pytest.mark.parametrize("claim", PAPER_CLAIMS, ids=[c["id"] for c in PAPER_CLAIMS])
def test_every_check_with_paper_values_holds_on_the_papers_own_numbers(claim):
    """A check of this paper's claim must be true of the paper: applied to the values read off its
    figures (paper_values), it holds; or the claim says why the figures do not determine it."""
    assert "paper_values" in claim, "give the paper's values of the check's metrics, or 'not determined: why'"
    verdict = holds_on_paper_values(claim)
    assert verdict is None or verdict, f"the check fails on the paper's own values {claim['paper_values']}"


def test_a_claim_whose_paper_values_miss_a_metric_is_refused(tmp_path):
    claim = {
        "id": "x",
        "figure": "f",
        "statement": "s",
        "paper": "p",
        "less": ["metrics/a.json:k", "metrics/a.json:j"],
        "paper_values": {"metrics/a.json:k": 1.0},
    }
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": [claim]}))
    with pytest.raises(ClaimsError, match="paper_values"):
        load_claims(path)


def test_a_paper_value_names_a_reading_of_the_papers_figures(tmp_path):
    """paper_values are read from polyground.readings (one source with the figures' paper marks)."""
    claim = {
        "id": "x",
        "figure": "f",
        "statement": "s",
        "paper": "p",
        "less": ["metrics/a.json:k", 1],
        "paper_values": {"metrics/a.json:k": "pretrain.transformer.10"},
    }
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": [claim]}))
    assert holds_on_paper_values(load_claims(path)[0])  # 0.3 < 1
    claim["paper_values"] = {"metrics/a.json:k": "pretrain.transformer.11"}
    path.write_text(yaml.safe_dump({"claims": [claim]}))
    with pytest.raises(ClaimsError, match="no reading 'pretrain.transformer.11'"):
        load_claims(path)


def test_every_claim_has_a_verdict_of_its_kind_and_every_failure_of_the_paper_a_cause():
    rows = verify(CLAIMS, "reevaluate", ROOT)
    assert all(r["verdict"] in VERDICTS[kind(c)] for r, c in zip(rows, CLAIMS))
    assert not any("not_reproduced" in c["id"] for c in CLAIMS)  # a verdict is a column, not part of a name
    uncaused = [r["id"] for r in rows if r["kind"] == "paper" and r["verdict"] != "REPRODUCED" and not r["cause"]]
    assert not uncaused, f"claims of the paper not reproduced without a `cause`: {uncaused}"


def test_at_least_thirty_verdicts_are_decided_by_intervals():
    rows = verify(CLAIMS, "reevaluate", ROOT)
    assert sum(r["with_interval"] for r in rows) >= 30


def test_a_value_outside_its_interval_is_refused(tmp_path):
    """A metric edited without its interval (or an interval that does not hold its value) fails with the reason."""
    claim = next(c for c in CLAIMS if c["id"] == "pretrain.error_after_10")
    shutil.copytree(ROOT / "metrics", tmp_path / "metrics")
    path = tmp_path / "metrics" / "pretrain.json"
    metrics = json.loads(path.read_text())
    metrics["model"]["mse@10"] = metrics["intervals"]["model.mse@10"][1] * 2
    path.write_text(json.dumps(metrics))
    row = check(claim, "reevaluate", tmp_path)
    assert not row["passed"] and "outside its interval" in row["got"]


@pytest.mark.parametrize(
    "less, message",
    [
        ([], "at least two entries"),
        (["metrics/pretrain.json:model.mse@10"], "at least two entries"),
        ([0.1, 0.2], "one of them a metric"),
        ("metrics/pretrain.json:model.mse@10", "at least two entries"),
    ],
)
def test_vacuous_checks_are_refused(tmp_path, less, message):
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump({"claims": [{"id": "x", "figure": "f", "statement": "s", "less": less}]}))
    with pytest.raises(ClaimsError, match=message):
        load_claims(path)


def test_a_claims_file_that_is_not_yaml_gets_one_clear_error(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text("claims:\n- id: x\n  statement: a text with a colon: here\n")
    with pytest.raises(ClaimsError, match="not valid YAML at line 3"):
        load_claims(path)


def _verify_copy(tmp_path, edit, mode="reevaluate"):
    """Run the verifier CLI on a copy of the metrics changed by ``edit(metrics_dict)``."""
    shutil.copytree(ROOT / "metrics", tmp_path / "metrics")
    path = tmp_path / "metrics" / "pretrain.json"
    metrics = json.loads(path.read_text())
    edit(metrics)
    path.write_text(json.dumps(metrics))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "polyground.claims",
            "verify",
            "--root",
            str(tmp_path),
            "--tolerance",
            mode,
            "--claims",
            str(ROOT / "paper" / "claims.yaml"),
        ],
        capture_output=True,
        text=True,
    )


def test_untouched_copy_passes(tmp_path):
    result = _verify_copy(tmp_path, lambda m: None)
    assert result.returncode == 0, result.stdout + result.stderr
    table = (tmp_path / "reports" / "claims.md").read_text()
    assert table.count("| PASS |") == len(CLAIMS)
    assert f"regenerated (reevaluate): {len(CLAIMS)} of {len(CLAIMS)} PASS; the paper:" in result.stdout


def test_metric_moved_beyond_tolerance_fails_its_claims_only(tmp_path):
    recorded = next(c for c in CLAIMS if c["id"] == "pretrain.error_after_10")["recorded"][
        "metrics/pretrain.json:model.mse@10"
    ]
    moved = recorded + 2 * (REEVALUATE["abs"] + REEVALUATE["rel"] * recorded)

    def edit(m):
        m["model"]["mse@10"] = moved

    result = _verify_copy(tmp_path, edit)
    assert result.returncode == 1
    readers = sorted(c["id"] for c in CLAIMS if "metrics/pretrain.json:model.mse@10" in metric_refs(c))
    report = json.loads((tmp_path / "reports" / "claims.json").read_text())
    assert sorted(r["id"] for r in report["claims"] if not r["passed"]) == readers
    assert "pretrain.error_after_10" in readers and "moved: model.mse@10" in result.stdout


def test_metric_within_tolerance_still_passes(tmp_path):
    recorded = next(c for c in CLAIMS if c["id"] == "pretrain.error_after_10")["recorded"][
        "metrics/pretrain.json:model.mse@10"
    ]

    def edit(m):
        m["model"]["mse@10"] = recorded + 0.5 * (REEVALUATE["abs"] + REEVALUATE["rel"] * recorded)

    assert _verify_copy(tmp_path, edit).returncode == 0


def test_retrained_model_is_verified_by_verdicts(tmp_path):
    """A retrained model's numbers move: --tolerance retrain passes them while every verdict stays,
    and fails a model that stayed on the in-context plateau (the error of the mean, 2.5, at every position)."""

    def moved(m):
        m["model"] = {k: v * 0.97 for k, v in m["model"].items()}
        m["intervals"] |= {f"model.{k}": [v, v] for k, v in m["model"].items()}

    assert _verify_copy(tmp_path / "a", moved, "retrain").returncode == 0

    def plateau(m):  # a retrained model's file: its values and their intervals (points) together
        m["model"] = {k: 2.5 for k in m["model"]}
        m["model_minus_least_squares"] = {k: 2.5 - v for k, v in m["least_squares"].items()}
        for name in ("model", "model_minus_least_squares"):
            m["intervals"] |= {f"{name}.{k}": [v, v] for k, v in m[name].items()}

    result = _verify_copy(tmp_path / "b", plateau, "retrain")
    assert result.returncode == 1 and "pretrain.model_beats_least_squares_at_5" in result.stdout.split("FAILED:")[1]


def test_missing_metrics_file_fails_with_reason(tmp_path):
    (tmp_path / "metrics").mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "polyground.claims",
            "verify",
            "--root",
            str(tmp_path),
            "--claims",
            str(ROOT / "paper" / "claims.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "missing" in result.stdout and "Traceback" not in result.stderr


def test_lookup_reads_keys_that_hold_dots_factors_and_keys_of_the_same_file(tmp_path):
    (tmp_path / "m.json").write_text('{"best_lr": 0.05, "lrs": {"0.05": {"mse@30": 1.5}, "5e-05": {"mse@30": 2.5}}}')
    assert lookup("m.json:lrs.0.05.mse@30", tmp_path) == 1.5
    assert lookup("m.json:lrs.5e-05.mse@30", tmp_path) == 2.5
    assert lookup("m.json:lrs.{best_lr}.mse@30", tmp_path) == 1.5
    assert lookup([10, "m.json:lrs.0.05.mse@30"], tmp_path) == 15.0
    with pytest.raises(KeyError):
        lookup("m.json:lrs.0.5.mse@30", tmp_path)
