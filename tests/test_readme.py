"""The front page: short, the two commands and their costs first, the claims table current and near
the top, every page of docs/ reachable from it, and every relative link in README and docs/ resolving."""

from __future__ import annotations

import re

from conftest import ROOT
from polyground.claims import BEGIN, END, load_claims, readme_block, readme_table, verify

README = ROOT / "README.md"
LINK = re.compile(r"\]\(([^)#]+)(?:#[^)]*)?\)")


def test_the_claims_table_is_current():
    """The README's table is what `python -m polyground.claims readme` writes from the committed metrics."""
    table = readme_table(verify(load_claims(ROOT / "paper/claims.yaml"), "reevaluate", ROOT), "reevaluate")
    assert readme_block(README) == table, "README.md's claims table is stale: run `python -m polyground.claims readme`"


def test_the_staleness_check_sees_a_changed_verdict(tmp_path):
    """The check's own failure: a README whose table lost a row differs from the generated one."""
    stale = tmp_path / "README.md"
    text = README.read_text()
    first_row = next(line for line in readme_block(README).splitlines() if line.startswith("| The model"))
    stale.write_text(text.replace(first_row + "\n", ""))
    assert readme_block(stale) != readme_block(README)


def test_front_page_layout():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines: move detail to docs/"
    first_screen = "\n".join(lines[:40])
    assert "./reproduce.sh" in first_screen and "tests/run.sh" in first_screen
    assert "What each path costs" in "\n".join(lines[:30])
    assert any(BEGIN in line for line in lines[:60]) and any(END in line for line in lines[:150])


def test_every_doc_is_linked_and_every_link_resolves():
    text = README.read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in text, f"README.md does not link {page.relative_to(ROOT)}"
    for doc in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for target in LINK.findall(doc.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            assert (doc.parent / target).exists(), f"{doc.relative_to(ROOT)} links {target}, which does not exist"
