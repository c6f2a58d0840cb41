"""The audit (polyground.audit) on the committed results: what it replays holds, and it catches an altered value.

Measuring chunks again needs the checkpoints: that half is tested on the smoke run (test_pipeline)."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import ROOT
from polyground import audit
from polyground.config import load_params


@pytest.fixture
def committed(tmp_path, monkeypatch):
    """A copy of the committed metrics, claims and parameters, as the working directory."""
    for name in ("metrics", "paper", "params.yaml"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_committed_interval_and_value_replays_from_its_chunk_means(committed):
    params = load_params()
    checked = 0
    for stage, (metrics_file, _) in audit.MEASURE.items():
        stored = json.loads((committed / f"metrics/chunks/{stage}.json").read_text())
        problems, count, others = audit.replayed(
            stage, stored, json.loads((committed / metrics_file).read_text()), params
        )
        assert not problems, problems
        assert all(name.startswith("median.") for name in others), others  # medians: per-sequence order statistics
        checked += count
    assert checked > 400


@pytest.mark.slow
def test_the_audit_fails_on_one_altered_chunk_mean_and_names_it(committed, capsys):
    with pytest.raises(SystemExit) as passed:
        audit.main(["--no-measure"])
    assert passed.value.code == 0, capsys.readouterr().out
    path = committed / "metrics/chunks/pretrain.json"
    stored = json.loads(path.read_text())
    stored["values"]["model"]["mse@30"][42] += 1.0  # the mean moves by 0.01 (15 %)
    path.write_text(json.dumps(stored))
    with pytest.raises(SystemExit) as failed:
        audit.main(["--no-measure"])
    out = capsys.readouterr().out
    assert failed.value.code == 1
    assert "AUDIT FAILED: pretrain: interval model.mse@30 is" in out
    assert "AUDIT FAILED: pretrain: model.mse@30 is" in out  # the value no longer the mean of its chunk means


def test_bad_input_is_one_error_line(committed, capsys):
    with pytest.raises(SystemExit) as bad:
        audit.main(["--per-stage", "0"])
    assert bad.value.code == 2 and capsys.readouterr().err.startswith("error: --per-stage 0")
    shutil.rmtree(committed / "metrics/chunks")
    with pytest.raises(SystemExit) as missing:
        audit.main([])
    assert missing.value.code == 2 and "run `dvc pull` first" in capsys.readouterr().err
