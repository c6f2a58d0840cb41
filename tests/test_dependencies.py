"""dvc.yaml declares the code each stage runs: the project modules its command imports
(transitively, package ``__init__`` files included), and no others. The params keys each stage
reads are checked on the smoke run (test_pipeline.py, ``test_each_stage_declares_the_params_it_reads``)."""

from __future__ import annotations

import subprocess
import sys

import yaml

from conftest import ROOT
from polyground.deps import code_closure, imported_modules, written

SRC = ROOT / "src"


def test_dvc_yaml_declares_the_code_every_stage_runs():
    """`python -m polyground.deps --check`: every stage's src/ deps are its import closure, no more."""
    run = subprocess.run([sys.executable, "-m", "polyground.deps", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_the_check_fails_on_a_missing_or_an_extra_dependency():
    """The check's own failure: pretrain without train.py, or with finetune.py, is rewritten."""
    text = (ROOT / "dvc.yaml").read_text()
    without = text.replace("      - src/polyground/train.py\n", "", 1)
    assert without != text and written(without) != without
    assert "src/polyground/train.py" in yaml.safe_load(written(without))["stages"]["pretrain"]["deps"]
    extra = text.replace(
        "      - src/polyground/train.py\n", "      - src/polyground/train.py\n      - src/polyground/finetune.py\n", 1
    )
    assert "src/polyground/finetune.py" not in yaml.safe_load(written(extra))["stages"]["pretrain"]["deps"]
    assert "src/polyground/train.py" in code_closure("polyground.stages.pretrain")


def test_declared_plots_read_committed_columns():
    """Every plot of dvc.yaml's `plots` names a committed CSV and columns it has (`dvc plots show`)."""
    import csv

    import yaml

    for plot in yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]:
        ((title, spec),) = plot.items()
        for path, columns in spec["y"].items():
            with open(ROOT / path, newline="") as handle:
                header = next(csv.reader(handle))
            wanted = [spec["x"]] + ([columns] if isinstance(columns, str) else columns)
            assert set(wanted) <= set(header), f"plot {title!r}: {path} lacks {sorted(set(wanted) - set(header))}"


def test_stage_scripts_are_leaves():
    """No stage script imports another stage, and no package module imports ``polyground.stages``:
    shared code lives in the package, so each stage's deps are only what it runs."""
    stages = {f"polyground.stages.{p.stem}" for p in (SRC / "polyground/stages").glob("*.py") if p.stem != "__init__"}
    for path in sorted((SRC / "polyground").rglob("*.py")):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        imported = imported_modules(path, name)
        if name in stages:
            assert not imported & (stages - {name}), f"{path} imports another stage: {sorted(imported & stages)}"
        elif not name.startswith("polyground.stages"):
            assert not {m for m in imported if m.startswith("polyground.stages")}, f"{path} imports polyground.stages"


def test_the_leaf_check_sees_a_stage_import(tmp_path):
    """The leaf check's own failure: a relative import of a sibling stage is found."""
    path = tmp_path / "many_shot.py"
    path.write_text("from .align import load_base_and_aligned\nfrom ..files import write_json\n")
    assert "polyground.stages.align" in imported_modules(path, "polyground.stages.many_shot")


def test_a_training_stage_depends_on_choices_not_on_floating_point_metrics():
    """A last digit of an evaluation (another CPU's kernels) must not retrain a model: a training stage
    (one whose outputs hold models/) reads a metrics file only when that file holds a choice alone."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        body = stage.get("do", stage)
        outs = [next(iter(o)) if isinstance(o, dict) else o for o in body.get("outs", [])]
        if not any(str(o).startswith("models/") for o in outs):
            continue
        for dep in (d for d in body.get("deps", []) if d.startswith("metrics/")):
            assert dep == "metrics/soft_prompt_sweep_best.json", f"training stage {name} depends on {dep}"
            assert set(yaml.safe_load((ROOT / dep).read_text())) == {"best_lr"}, f"{dep} holds more than the choice"
