"""reproduce.sh's command line: help, and clear errors for bad options (the full run is the README's)."""

import re
import subprocess

import pytest
import yaml

from conftest import ROOT


def _reproduce(*args):
    return subprocess.run([str(ROOT / "reproduce.sh"), *args], capture_output=True, text=True, timeout=300)


def test_help_lists_every_option():
    result = _reproduce("--help")
    assert result.returncode == 0
    for option in ("--retrain", "--only", "--docker", "--help"):
        assert option in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bogus"], "unknown option '--bogus'"),
        (["--only"], "--only needs a stage or figure name"),
        (["--only", "no_such_thing"], "neither a stage"),
        (["--only", "pretrain"], "use ./reproduce.sh --retrain --only pretrain"),
        (["--audit-seed", "x"], "--audit-seed needs a whole number"),
        (["--audit", "--only", "figures"], "use it without --retrain and --only"),
    ],
)
def test_bad_options_fail_clearly(args, message):
    result = _reproduce(*args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_every_stage_is_regenerated_or_trained():
    """A stage added to dvc.yaml but to neither list of reproduce.sh would never run on either path."""
    text = (ROOT / "reproduce.sh").read_text()
    lists = {
        name: set(re.search(rf"^{name}=\(([^)]*)\)", text, re.M).group(1).split())
        for name in ("regenerate", "training")
    }
    stages = {name.split("@")[0] for name in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]}
    assert not lists["regenerate"] & lists["training"]
    assert stages - {"report_pdf"} == lists["regenerate"] | lists["training"]
