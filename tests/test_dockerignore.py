"""The Docker build context: .dockerignore keeps it small and keeps what the Dockerfile needs.

The context is computed as Docker computes it for simple patterns: each line of .dockerignore is a
pattern relative to the context root (a leading "/" or "./" dropped), matched like Go's filepath.Match
("*" and "?" do not cross "/"), with "**" matching any number of directories; a pattern that matches a
directory excludes everything under it; "!" re-includes, and the last matching line decides.
"""

import os
import re
from pathlib import Path

from conftest import ROOT

# The bound: the image needs requirements.txt and the package; the rest of what stays in the context is
# text, configs and small outputs tracked in git (about 7 MB, most of it figures/). Each thing the
# .dockerignore leaves out is larger than the bound on its own (checkpoints in models/ ~40 MB, run
# states in resume/ and runs/ ~57 MB each, the DVC cache ~140 MB, dvc-remote/ ~250 MB, .git ~240 MB,
# .venv ~1.6 GB), so the test fails as soon as one of them comes back into the context.
BOUND_BYTES = 20 * 1024 * 1024


def _pattern_regex(pattern: str) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def read_patterns(text: str) -> list[tuple[bool, re.Pattern, str]]:
    """(negated, regex, pattern) for each line of a .dockerignore."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line[1:].strip() if negated else line
        pattern = os.path.normpath(pattern).lstrip("/")
        pattern = pattern[2:] if pattern.startswith("./") else pattern
        rules.append((negated, _pattern_regex(pattern), pattern))
    return rules


def excluded(rel: str, rules) -> bool:
    """Whether the path rel (relative, "/"-separated) is left out of the context."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for negated, regex, _ in rules:
        if any(regex.match(prefix) for prefix in prefixes):
            verdict = not negated
    return verdict


def build_context(root: Path, rules) -> dict[str, int]:
    """Every file of the context with its size in bytes."""
    exceptions = [pattern for negated, _, pattern in rules if negated]
    files = {}
    for current, dirs, names in os.walk(root):
        base = Path(current).relative_to(root).as_posix()
        base = "" if base == "." else base + "/"
        kept = []
        for d in dirs:
            rel = base + d
            # an excluded directory is not walked unless an exception could re-include something in it
            if excluded(rel, rules) and not any(e.startswith(rel + "/") or "*" in e for e in exceptions):
                continue
            kept.append(d)
        dirs[:] = kept
        for name in names:
            rel = base + name
            if not excluded(rel, rules):
                files[rel] = os.lstat(os.path.join(current, name)).st_size
    return files


def dockerfile_copies(text: str) -> list[str]:
    """The source paths of the Dockerfile's COPY/ADD lines (not those copying from another stage)."""
    sources = []
    for line in re.findall(r"^(?:COPY|ADD)\s+(.+)$", text, re.M):
        words = line.split()
        if any(w.startswith("--from=") for w in words):
            continue
        words = [w for w in words if not w.startswith("--")]
        sources += words[:-1]
    return sources


RULES = read_patterns((ROOT / ".dockerignore").read_text())


def test_the_build_context_is_small():
    context = build_context(ROOT, RULES)
    total = sum(context.values())
    largest = sorted(context.items(), key=lambda item: -item[1])[:5]
    assert total < BOUND_BYTES, f"build context {total / 2**20:.1f} MiB (largest: {largest})"
    for heavy in (".git/", ".venv/", "dvc-remote/", ".dvc/cache/", "models/", "resume/", "runs/"):
        assert not any(path.startswith(heavy) for path in context), f"{heavy} is in the build context"


def test_what_the_dockerfile_needs_is_in_the_context():
    dockerfile = (ROOT / "Dockerfile").read_text()
    sources = dockerfile_copies(dockerfile)
    assert sources, "the Dockerfile copies nothing"
    for source in sources:
        source = os.path.normpath(source)
        assert source == "." or not excluded(source, RULES), f"COPY {source}: left out by .dockerignore"
    needed = ["requirements.txt"]
    if "." in [os.path.normpath(s) for s in sources]:
        # pip install -e . needs the project and its package; CMD runs reproduce.sh
        needed += ["pyproject.toml", "src/polyground/__init__.py", "reproduce.sh", "params.yaml", "dvc.yaml"]
    for path in needed:
        assert (ROOT / path).exists() and not excluded(path, RULES), f"{path} is not in the build context"


def test_the_matcher_follows_docker_semantics():
    rules = read_patterns("# comment\n/runs\n**/__pycache__\n*.log\n!keep.log\n.dvc/cache\n")
    assert excluded("runs", rules) and excluded("runs/a/b.pt", rules)
    assert not excluded("src/runs.py", rules) and not excluded("src/runs/x", rules)
    assert excluded("src/pkg/__pycache__/m.pyc", rules) and excluded("__pycache__/m.pyc", rules)
    assert excluded("a.log", rules) and not excluded("logs/a.log", rules)  # "*" does not cross "/"
    assert not excluded("keep.log", rules)
    assert excluded(".dvc/cache/files/md5/ab", rules) and not excluded(".dvc/config", rules)
