"""Stage commands forked from a prestarted process behave as fresh interpreters would."""

import os
import subprocess
import sys
import textwrap

from conftest import ROOT

STAGE = """
import os, sys
print("argv", sys.argv[1:], "cwd", os.getcwd(), "env", os.environ.get("STAGE_VALUE"))
print("imported from", __file__.rsplit("/src/", 1)[0].rsplit("/", 1)[-1], file=sys.stderr)
if "--fail" in sys.argv:
    raise ValueError("a stage's own error")
sys.exit(int(sys.argv[1]))
"""


def _caller_tree(tmp_path):
    """A package named polyground with one stage, in a caller's tree: the stage must come from here."""
    stages = tmp_path / "caller" / "src" / "polyground" / "stages"
    stages.mkdir(parents=True)
    (stages.parent / "__init__.py").write_text("")
    (stages / "__init__.py").write_text("")
    (stages / "echo.py").write_text(STAGE)
    work = tmp_path / "work"
    work.mkdir()
    return tmp_path / "caller" / "src", work


def _run(script, src, cwd, prestarted):
    """SCRIPT in bash with the caller's tree on PYTHONPATH; prestarted: under a server started from this
    repository's package (as scripts/smoke.sh starts it from its copy)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "STAGE_VALUE": "from the caller"}
    command = ["bash", "-c", f"export PYTHONPATH={src}\n{script}"]
    if prestarted:
        command = [sys.executable, "-m", "polyground.prestart", "--", *command]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)


def _unframed(stderr):
    """The traceback's frames differ (runpy's own are in one); what the stage wrote and the error do not."""
    return [line for line in stderr.splitlines() if not line.startswith((" ", "Traceback"))]


def test_a_forked_stage_matches_a_fresh_interpreter(tmp_path):
    src, work = _caller_tree(tmp_path)
    script = textwrap.dedent("""
        python -m polyground.stages.echo 0 a "b c"; echo "status $?"
        python -m polyground.stages.echo 3; echo "status $?"
        python -m polyground.stages.echo 0 --fail; echo "status $?"
        python -c 'print("not a stage")'
    """)
    fresh = _run(script, src, work, prestarted=False)
    served = _run(script, src, work, prestarted=True)
    assert fresh.returncode == served.returncode == 0
    assert served.stdout == fresh.stdout
    for status in ("status 0", "status 3", "status 1", "not a stage"):
        assert status in served.stdout
    assert (
        _unframed(served.stderr)
        == _unframed(fresh.stderr)
        == ["imported from caller"] * 3 + ["ValueError: a stage's own error"]
    )


def test_no_command_is_one_error_line():
    result = subprocess.run([sys.executable, "-m", "polyground.prestart"], capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.startswith("error:") and result.stderr.count("\n") == 1
