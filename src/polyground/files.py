"""Atomic writes, the one mechanism every output and run state goes through: a file is written under
a temporary name beside its place and renamed onto it only when complete, so a failed or killed run
never leaves half a file where a good one was."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write; renamed onto ``path`` when the block succeeds,
    removed when it fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_rows(path: str | Path, fieldnames: list[str], rows: list[dict]) -> None:
    """A CSV of ``rows`` (mappings over ``fieldnames``), written atomically."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, text.getvalue())


def copy_atomic(source: str | Path, target: str | Path) -> None:
    """Copy ``source`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def write_json(path: str | Path, data: Any) -> None:
    """Pretty, key-sorted JSON, written atomically."""
    write_atomic(Path(path), json.dumps(data, indent=2, sort_keys=True) + "\n")
