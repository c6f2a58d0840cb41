"""The code each stage of ``dvc.yaml`` runs, derived from its imports, and written into its deps.

A stage's command is ``python -m MODULE ...``; the project files it runs are MODULE and every project
module it imports, transitively, package ``__init__`` files included (:func:`code_closure`, read from
the source with ``ast``: nothing is imported). ``python -m polyground.deps --write`` replaces each
stage's ``src/`` dependencies with exactly those (its other dependencies, comments and layout kept);
``--check`` exits 1, naming the stages, when ``dvc.yaml`` is out of step (the tests run it).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DVC_YAML = ROOT / "dvc.yaml"
SRC = ROOT / "src"


def module_path(name: str, src: Path = SRC) -> Path | None:
    """The file of project module ``name`` (a package's ``__init__.py``), or None if not one."""
    base = src / Path(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def imported_modules(path: Path, name: str, src: Path = SRC) -> set[str]:
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
            found |= {f"{base}.{alias.name}" for alias in node.names if module_path(f"{base}.{alias.name}", src)}
    return found


def code_closure(module: str, src: Path = SRC) -> list[str]:
    """Repository paths of every project file that running ``module`` runs: its own file first, then
    the rest in order."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for prefix in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):  # parent packages run first
            path = module_path(prefix, src)
            if path is not None and prefix not in seen:
                seen.add(prefix)
                todo.extend(imported_modules(path, prefix, src))
    root = src.parent
    own = str(module_path(module, src).relative_to(root))
    return [own] + sorted(str(module_path(n, src).relative_to(root)) for n in seen if n != module)


def stage_modules(text: str) -> dict[str, str]:
    """Each stage of ``dvc.yaml`` (a foreach or matrix stage once, by its template) and the module
    its ``python -m`` command runs."""
    stages = yaml.safe_load(text)["stages"]
    return {name: stage.get("do", stage)["cmd"].split()[2] for name, stage in stages.items()}


STAGE = re.compile(r"^  (\S[^:]*):")
SRC_DEP = re.compile(r"^(\s+)- src/")


def written(text: str, src: Path = SRC) -> str:
    """``dvc.yaml``'s text with every stage's ``src/`` dependencies replaced by its code closure."""
    modules, out, stage, in_deps = stage_modules(text), [], None, False
    for line in text.splitlines(keepends=True):
        if match := STAGE.match(line):
            stage = match.group(1)
        if re.match(r"^\s+deps:\s*$", line):
            in_deps = True
        elif in_deps and not re.match(r"^\s+- ", line):
            in_deps = False
        if in_deps and (match := SRC_DEP.match(line)):
            if stage in modules:  # the first src/ line of the stage stands for the whole closure
                indent = match.group(1)
                out += [f"{indent}- {path}\n" for path in code_closure(modules.pop(stage), src)]
            continue
        out.append(line)
    return "".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m polyground.deps", description=__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="write the src/ dependencies into dvc.yaml")
    action.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml is out of step")
    args = parser.parse_args(argv)
    text = DVC_YAML.read_text()
    new = written(text)
    if args.write:
        DVC_YAML.write_text(new)
        print("wrote the src/ dependencies of every stage into dvc.yaml" if new != text else "dvc.yaml is current")
        return
    if new != text:
        old_stages, new_stages = yaml.safe_load(text)["stages"], yaml.safe_load(new)["stages"]
        stale = [name for name in old_stages if old_stages[name] != new_stages[name]]
        print(
            f"error: dvc.yaml's src/ dependencies are out of step for {', '.join(stale)}: "
            "run `python -m polyground.deps --write`",
            file=sys.stderr,
        )
        raise SystemExit(1)
    print("dvc.yaml declares the code every stage runs")


if __name__ == "__main__":
    main()
