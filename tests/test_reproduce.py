"""reproduce.sh's command line: help, and clear errors for bad options (the full run is the README's)."""

import subprocess

import pytest

from conftest import ROOT


def _reproduce(*args):
    return subprocess.run([str(ROOT / "reproduce.sh"), *args], capture_output=True, text=True, timeout=300)


def test_help_lists_every_option():
    result = _reproduce("--help")
    assert result.returncode == 0
    for option in ("--retrain", "--only", "--docker", "--help"):
        assert option in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--bogus"], "unknown option '--bogus'"),
    (["--only"], "--only needs a stage or figure name"),
    (["--only", "no_such_thing"], "neither a stage"),
    (["--only", "pretrain"], "use ./reproduce.sh --retrain --only pretrain"),
])
def test_bad_options_fail_clearly(args, message):
    result = _reproduce(*args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
