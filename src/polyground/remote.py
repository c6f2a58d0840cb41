"""``python -m polyground.remote pull [-r REMOTE]``: ``dvc pull`` with one clear message on failure.

``dvc pull`` never deletes workspace files; when it cannot fetch everything (remote unreachable,
or missing some objects) this says which tracked outputs are still absent, which remote was
used (name and URL) and how to fix it, and exits 2. What was already in the workspace stays.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import yaml


def pullable_outputs() -> set[str]:
    """The outputs that dvc.lock records and DVC caches (a stage never run yet has none; a
    ``cache: false`` output lives in git and is regenerated, never pulled)."""
    from dvc.repo import Repo

    lock = Path("dvc.lock")
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {}) if lock.exists() else {}
    with Repo(".") as repo:
        cached = {str(out.def_path) for out in repo.index.outs if out.use_cache}
    return {out["path"] for stage in stages.values() for out in stage.get("outs", [])} & cached


def missing_outputs() -> list[str]:
    """Pullable outputs that the workspace lacks (deleted, or not in the cache to check out)."""
    result = subprocess.run(["dvc", "status", "--json"], capture_output=True, text=True)
    try:
        stages = json.loads(result.stdout or "{}")
    except json.JSONDecodeError:
        return ["(dvc status failed: " + result.stderr.strip()[-200:] + ")"]
    return sorted(
        {
            path
            for changes in stages.values()
            if isinstance(changes, list)
            for change in changes
            if isinstance(change, dict)
            for path, state in change.get("changed outs", {}).items()
            if state in ("deleted", "not in cache")
        }
        & pullable_outputs()
    )


def remote_url(name: str | None) -> tuple[str, str]:
    """(name, url) of ``name`` or of the default remote."""

    def dvc(*args: str) -> str:
        return subprocess.run(["dvc", *args], capture_output=True, text=True).stdout.strip()

    name = name or dvc("remote", "default") or "?"
    urls = {line.split()[0]: line.split()[1] for line in dvc("remote", "list").splitlines() if len(line.split()) >= 2}
    return name, urls.get(name, "(not configured)")


def pull(remote: str | None = None) -> int:
    """Run ``dvc pull``; on failure print what is missing and how to fix it. Returns the exit status."""
    name, url = remote_url(remote)
    print(f"dvc pull from remote {name!r} ({url})", flush=True)
    # --allow-missing: a stage never run has no output to pull (dvc pull alone fails on it, and with
    # every locked stage as a target it takes 30x longer); what is still missing is checked below.
    result = subprocess.run(
        ["dvc", "pull", "--allow-missing", *(["-r", remote] if remote else [])], capture_output=True, text=True
    )
    sys.stdout.write(result.stdout)
    missing = missing_outputs()
    if result.returncode == 0 and not missing:
        return 0
    detail = next(
        (line for line in result.stderr.splitlines() if line.startswith("ERROR")),
        "the remote lacks these files or cannot be reached",
    )
    print(
        f"error: could not pull the checkpoints from remote {name!r} ({url}).\n"
        f"  missing in the workspace: {', '.join(missing) or 'none, but dvc pull failed'}\n"
        f"  dvc said: {detail}\n"
        "  fix: check that the remote is reachable and complete (for the bundled one, that dvc-remote/ is\n"
        "  in your clone), or pick another with `dvc remote default NAME` / `-r NAME`\n"
        "  (docs/reviewing.md, 'DVC remote'),\n"
        "  or retrain the missing outputs with `./reproduce.sh --retrain`. Nothing in the workspace was removed.",
        file=sys.stderr,
    )
    return 2


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m polyground.remote", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("pull", help="dvc pull with a clear message on failure").add_argument("-r", "--remote")
    args = parser.parse_args(argv)
    raise SystemExit(pull(args.remote))


if __name__ == "__main__":
    main()
