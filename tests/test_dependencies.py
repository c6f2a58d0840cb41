"""dvc.yaml declares the code each stage runs: the project modules its command imports
(transitively, package ``__init__`` files included), and no others. The params keys each stage
reads are checked on the smoke run (test_pipeline.py, ``test_each_stage_declares_the_params_it_reads``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

SRC = ROOT / "src"


def module_path(name: str) -> Path | None:
    """The file of project module ``name`` (a package's ``__init__.py``), or None if not one."""
    base = SRC / Path(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def imported_modules(path: Path, name: str) -> set[str]:
    """The project modules ``path`` (module ``name``) imports directly."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "polyground"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            if base.split(".")[0] != "polyground":
                continue
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names if module_path(f"{base}.{alias.name}")}
    return found


def code_closure(module: str) -> set[str]:
    """Repository paths of every project file that importing ``module`` runs."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for prefix in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):  # parent packages run first
            path = module_path(prefix)
            if path is not None and prefix not in seen:
                seen.add(prefix)
                todo.extend(imported_modules(path, prefix))
    return {str(module_path(name).relative_to(ROOT)) for name in seen}


def missing_and_unused(cmd: str, deps: list[str]) -> tuple[set[str], set[str]]:
    """Code a ``python -m MODULE`` stage runs but does not declare, and code it declares but does not run."""
    module = cmd.split()[2]
    needed = code_closure(module)
    declared = {d for d in deps if d.startswith("src/")}
    covered = {n for n in needed if any(n == d or n.startswith(d.rstrip("/") + "/") for d in declared)}
    return needed - covered, {d for d in declared if d.endswith(".py") and d not in needed}


def stage_code() -> list[tuple[str, str, list[str]]]:
    """Each stage of dvc.yaml as written (a foreach or matrix stage once, by its template: also one whose
    items are empty, as align_setups is until a setup is promoted): name, command, deps."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return [
        (name, body["cmd"], list(body.get("deps", [])))
        for name, stage in stages.items()
        for body in [stage.get("do", stage)]
    ]


STAGES = stage_code()


@pytest.mark.parametrize("name, cmd, deps", STAGES, ids=[s[0] for s in STAGES])
def test_each_stage_declares_the_code_it_runs_and_no_more(name, cmd, deps):
    missing, unused = missing_and_unused(cmd, deps)
    assert not missing, f"dvc.yaml: stage {name} runs {sorted(missing)} without declaring it in deps"
    assert not unused, f"dvc.yaml: stage {name} declares {sorted(unused)}, which it does not run"


def test_the_check_fails_on_a_missing_dependency():
    """The fixture's own failure: the pretrain stage without train.py in its deps."""
    name, cmd, deps = next(s for s in STAGES if s[0] == "pretrain")
    missing, unused = missing_and_unused(cmd, [d for d in deps if d != "src/polyground/train.py"])
    assert missing == {"src/polyground/train.py"} and not unused
    missing, unused = missing_and_unused(cmd, deps + ["src/polyground/finetune.py"])
    assert not missing and unused == {"src/polyground/finetune.py"}


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
