"""The DVC remote: the bundled one served over real HTTP, and a missing remote's clear message."""

import functools
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import ROOT
from polyground.checkpoint import load_checkpoint
from polyground.config import load_params

pytestmark = pytest.mark.slow
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}


def _run(args, cwd, check=True):
    result = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True)
    assert not check or result.returncode == 0, f"{' '.join(map(str, args))}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture
def fresh_clone(tmp_path):
    """A clone of the committed repository, without any DVC-cached output."""
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(ROOT), str(clone)], tmp_path)
    assert not (clone / "models" / "pretrain").exists()
    return clone


@pytest.fixture
def http_remote():
    """The bundled remote served by a real HTTP server on 127.0.0.1 (an ephemeral port)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(ROOT / "dvc-remote"))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_pull_through_http_mirror(fresh_clone, http_remote):
    """Pulls every checkpoint; a deleted `cache: false` output (in git, regenerated) is no reason to fail."""
    _run(["dvc", "remote", "add", "--local", "--default", "mirror", http_remote], fresh_clone)
    (fresh_clone / "metrics" / "pretrain.json").unlink()
    out = _run([sys.executable, "-m", "polyground.remote", "pull"], fresh_clone).stdout
    assert "mirror" in out
    model, meta = load_checkpoint(fresh_clone / "models" / "pretrain", load_params(ROOT / "params.yaml").model)
    committed = json.loads((ROOT / "metrics" / "pretrain.json").read_text())["checkpoint_sha256"]
    assert (
        meta["sha256"]
        == committed
        == hashlib.sha256((fresh_clone / "models/pretrain/model.safetensors").read_bytes()).hexdigest()
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/nothing-here", "empty-dir"])
def test_unreachable_or_empty_remote_names_missing_files_and_keeps_workspace(fresh_clone, tmp_path, url):
    if url == "empty-dir":
        (tmp_path / "empty").mkdir()
        url = str(tmp_path / "empty")
    _run(["dvc", "remote", "add", "--local", "--default", "broken", url], fresh_clone)
    kept = fresh_clone / "models" / "pretrain" / "notes.txt"  # something already in the workspace
    kept.parent.mkdir(parents=True)
    kept.write_text("mine")
    committed = (fresh_clone / "metrics" / "pretrain.json").read_bytes()
    result = _run([sys.executable, "-m", "polyground.remote", "pull"], fresh_clone, check=False)
    assert result.returncode == 2
    assert "models/pretrain" in result.stderr and "'broken'" in result.stderr and url in result.stderr
    assert "fix:" in result.stderr and "Traceback" not in result.stderr
    assert kept.read_text() == "mine"
    assert (fresh_clone / "metrics" / "pretrain.json").read_bytes() == committed
