"""End to end: the smoke parameter set through `dvc repro` in a temporary copy of the repository."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow

PRODUCED = [
    "metrics/pretrain.json", "metrics/pretrain_curve.csv", "logs/pretrain.csv",
    "figures/function_class.png", "figures/function_class.pdf",
    "figures/pretrain_vs_baselines.png", "figures/pretrain_vs_baselines.pdf",
    "metrics/seed_spread.json", "paper/generated/numbers.tex", "paper/generated/claims.tex",
]
# Without a TeX engine the pipeline stops before report_pdf (its error is tested in test_report).
TARGETS = [] if shutil.which("pdflatex") else ["report"]


def _run(args, cwd, env):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def smoke_repo(tmp_path_factory):
    """A git+DVC copy of the code with the smoke parameter set applied, reproduced once."""
    repo = tmp_path_factory.mktemp("repo")
    for name in ("src", "configs", "paper", "dvc.yaml", "params.yaml", ".dvcignore"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__", "generated", "*.pdf"))
        elif source.exists():
            shutil.copy(source, repo / name)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(repo / "src"),
        "DVC_NO_ANALYTICS": "1",
    }
    for args in (["git", "init", "-q"], ["dvc", "init", "-q"], [sys.executable, "-m", "polyground.config", "smoke"]):
        _run(args, repo, env)
    _run(["dvc", "repro", *TARGETS], repo, env)
    return repo, env


def test_smoke_pipeline_produces_every_output(smoke_repo):
    repo, _ = smoke_repo
    for name in PRODUCED + ["models/pretrain/model.safetensors", "models/pretrain/model.json", "dvc.lock"]:
        assert (repo / name).stat().st_size > 0, name


def test_second_repro_is_up_to_date(smoke_repo):
    repo, env = smoke_repo
    out = _run(["dvc", "repro", *TARGETS], repo, env) + _run(["dvc", "status", *TARGETS], repo, env)
    assert "Running stage" not in out
    assert "up to date" in out


def test_deleted_metrics_and_figures_regenerate_identically(smoke_repo):
    repo, env = smoke_repo
    before = {name: (repo / name).read_bytes() for name in PRODUCED if not name.startswith("logs/")}
    for name in before:
        (repo / name).unlink()
    _run(["dvc", "repro", "evaluate_pretrain", "figures", "report"], repo, env)
    for name, data in before.items():
        assert (repo / name).read_bytes() == data, f"{name} differs after regeneration"
