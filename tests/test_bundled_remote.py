"""The bundled DVC remote holds every object that HEAD's dvc.lock and .dvc files reference, and no other."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from conftest import ROOT

REMOTE = ROOT / "dvc-remote" / "files" / "md5"


def object_path(md5: str) -> Path:
    return REMOTE / md5[:2] / md5[2:]


def git_files(*patterns: str) -> list[str]:
    return subprocess.run(
        ["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()


def referenced() -> set[str]:
    """Every md5 that the pipeline's lock and the .dvc files name for what DVC caches (not the small
    outputs kept in git), with the files of their directories."""
    in_git = set(git_files())
    outs = [
        out
        for stage in yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"].values()
        for out in stage.get("outs", [])
        if out["path"] not in in_git and not any(f.startswith(out["path"].rstrip("/") + "/") for f in in_git)
    ]
    for name in git_files("*.dvc"):
        outs += yaml.safe_load((ROOT / name).read_text()).get("outs", [])
    found = set()
    for out in (o for o in outs if "md5" in o):
        found.add(out["md5"])
        if out["md5"].endswith(".dir") and object_path(out["md5"]).exists():
            found |= {entry["md5"] for entry in json.loads(object_path(out["md5"]).read_text())}
    return found


def test_every_referenced_object_is_in_the_bundled_remote():
    cached = referenced()
    assert len(cached) > 20
    missing = sorted(md5 for md5 in cached if not object_path(md5).exists())
    assert not missing, f"the bundled remote lacks {len(missing)} referenced objects: `dvc push` them ({missing[:3]})"


def test_the_bundled_remote_holds_nothing_else():
    stored = {p.parent.name + p.name for p in REMOTE.glob("*/*")}
    extra = sorted(stored - referenced())
    assert not extra, f"{len(extra)} objects no file of HEAD references: `dvc gc -w -c -r bundled` ({extra[:3]})"
