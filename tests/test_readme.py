"""The front page: short, the two commands and their costs first, the claims table current and near
the top, every page of docs/ reachable from it, and every relative link in README and docs/ resolving."""

from __future__ import annotations

import json
import re
import shutil

from conftest import ROOT
from polyground.claims import (
    BEGIN,
    CLAIMS_DOC_HEAD,
    END,
    claims_table,
    counts,
    interval_level,
    load_claims,
    readme_block,
    readme_table,
    verify,
)

README = ROOT / "README.md"
LINK = re.compile(r"\]\(([^)#]+)(?:#[^)]*)?\)")


def generated(root=ROOT) -> tuple[str, str]:
    """The README's claims block and docs/claims.md as `python -m polyground.claims readme` writes them."""
    rows, level = verify(load_claims(ROOT / "paper/claims.yaml"), "reevaluate", root), interval_level(ROOT)
    return readme_table(rows, level), CLAIMS_DOC_HEAD + claims_table(rows, level)


def test_the_claims_block_and_page_are_current():
    """The README's block and docs/claims.md are what `python -m polyground.claims readme` writes."""
    block, page = generated()
    assert readme_block(README) == block, "README.md's claims block is stale: run `python -m polyground.claims readme`"
    assert (ROOT / "docs/claims.md").read_text() == page, "docs/claims.md is stale: run the same"


def test_a_changed_metric_changes_the_table_the_counts_and_the_report(tmp_path, monkeypatch):
    """The generator reads the metrics: a claim of the paper pushed past its threshold (value and interval)
    changes its verdict, the counts on the front page and the report's macros."""
    shutil.copytree(ROOT / "metrics", tmp_path / "metrics")
    path = tmp_path / "metrics" / "pretrain.json"
    metrics = json.loads(path.read_text())
    metrics["model"]["mse@10"] = 0.1
    metrics["intervals"]["model.mse@10"] = [0.09, 0.11]
    path.write_text(json.dumps(metrics))
    block, page = generated(tmp_path)
    assert block != readme_block(README) and page != (ROOT / "docs/claims.md").read_text()
    row = next(line for line in page.splitlines() if "`pretrain.error_after_10`" in line)
    assert row.endswith("| REPRODUCED |") and "0.1 [0.09, 0.11] < 0.45: true" in row
    before = counts(verify(load_claims(ROOT / "paper/claims.yaml"), "reevaluate", ROOT))
    after = counts(verify(load_claims(ROOT / "paper/claims.yaml"), "reevaluate", tmp_path))
    assert after["paper"]["REPRODUCED"] == before["paper"]["REPRODUCED"] + 1
    assert f"{after['paper']['REPRODUCED']} REPRODUCED" in block
    from polyground.stages.report import claims_tex

    monkeypatch.chdir(ROOT)
    macro = "\\newcommand{\\ClaimsOfPaperReproduced}{%d}"
    assert macro % before["paper"]["REPRODUCED"] in claims_tex(ROOT)[0]
    assert macro % after["paper"]["REPRODUCED"] in claims_tex(tmp_path)[0]


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
