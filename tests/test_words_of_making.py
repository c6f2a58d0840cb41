"""The product speaks of its science only: no words about how it was made.

The repository's text files (README, docs, code, tests, configs, scripts, benchmarks, the report) must
not name work periods of its developers, tracker numbers, instructions for a borrowed machine,
paths of a developer's machine or paths outside the repository. Dated history belongs in CHANGELOG.md,
which is not checked. The patterns are assembled from pieces so that this file does not match them.
"""

import re
import subprocess

import pytest

from conftest import ROOT

PATTERNS = [
    r"\bsess" + r"ions?\b",
    r"\biss" + r"ues? #?\d+",
    r"\$" + r"OUT\b",
    "/tmp" + "/site",
    r"\.\./" + "shared/",
    # a developer's checkout; /work/polyground is the image's working directory (Dockerfile), not one
    "/wo" + r"rk/(?!polyground\b)",
    "device" + " tool",
    "git rm" + " -r --cached",
]
WORDS = re.compile("|".join(f"(?:{p})" for p in PATTERNS), re.IGNORECASE)

ROOTS = ("docs/", "src/", "tests/", "configs/", "scripts/", "bench/", ".ci/")
FILES = {
    "README.md",
    "paper/report.tex",
    "paper/claims.yaml",
    "Dockerfile",
    "reproduce.sh",
    "params.yaml",
    "dvc.yaml",
    "pyproject.toml",
    "CITATION.cff",
    ".dockerignore",
}
SUFFIXES = (".md", ".py", ".sh", ".yaml", ".yml", ".tex", ".txt", ".toml", ".cfg")
NAMES = ("Dockerfile", "reproduce.sh", "params.yaml", "dvc.yaml")


def find_words(text: str, name: str) -> list[str]:
    """file:line: text for each line of text that matches a pattern."""
    return [
        f"{name}:{number}: {line.strip()}" for number, line in enumerate(text.splitlines(), 1) if WORDS.search(line)
    ]


def checked_files() -> list[str]:
    """The repository's files under the checked roots (tracked, and new ones git does not ignore)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    chosen = []
    for path in sorted(set(listed)):
        if path == "CHANGELOG.md" or not (ROOT / path).is_file():
            continue
        name = path.rsplit("/", 1)[-1]
        if path in FILES or (path.startswith(ROOTS) and (path.endswith(SUFFIXES) or name in NAMES)):
            chosen.append(path)
    return chosen


def matches(paths) -> list[str]:
    found = []
    for path in paths:
        try:
            text = (ROOT / path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found += find_words(text, path)
    return found


def test_no_words_of_making():
    paths = checked_files()
    assert len(paths) > 50 and "README.md" in paths
    found = matches(paths)
    assert not found, "words about how the artifact was made:\n" + "\n".join(found)


def test_the_check_can_fail():
    text = "The model.\nTrained in ses" + "sion 3 on two cores.\nNothing else.\n"
    assert find_words(text, "x.md") == ["x.md:2: Trained in ses" + "sion 3 on two cores."]
    for clean in ("an obsession", "a known issue", "/work/polyground", "$OUTPUT_DIR", "/tmp/requirements.txt"):
        assert not find_words(clean, "y.md"), clean
    dirty = ["see iss" + "ue #12", "Iss" + "ues 28-31", "cd $" + "OUT/x", "/tmp/" + "site", "../sha" + "red/ref"]
    dirty += ["/wo" + "rk/main", "the dev" + "ice tool", "git rm" + " -r --cached dvc-remote"]
    for line in dirty:
        assert find_words(line, "z.md") == [f"z.md:1: {line}"], line
