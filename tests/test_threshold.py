"""The threshold rules (polyground.threshold): one owner, and no rule written again elsewhere."""

from __future__ import annotations

import re

import torch

from conftest import ROOT
from polyground.threshold import above, clamp, harmful, jailbroken, safe

INLINE = re.compile(r"[<>]=? *(?:\w+\.)*threshold\b|threshold *[+-] *(?:\w+\.)*margin\b")


def test_the_rules_agree_with_each_other():
    y = torch.linspace(-1, 2, 301, dtype=torch.float64)
    t, m = 0.5, 0.05
    assert torch.equal(clamp(y, t), torch.minimum(y, torch.tensor(t, dtype=torch.float64)))
    assert torch.equal(jailbroken(y, t), above(y, t))  # the paper's rule: an answer above T
    assert not (harmful(y, t, m) & ~jailbroken(y, t, m)).any() and (jailbroken(y, t) & ~harmful(y, t, m)).any()
    assert not (safe(y, t, m) & above(y, t)).any() and not (safe(y, t, m) & harmful(y, t, m)).any()
    assert torch.equal(clamp(y, t)[above(y, t)], torch.full_like(y[above(y, t)], t))


def test_no_threshold_rule_is_written_inline_outside_its_module():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sorted((ROOT / "src/polyground").rglob("*.py"))
        if path.name != "threshold.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if INLINE.search(line.split("#")[0]) and '"' not in line and "'" not in line
    ]
    assert not found, "a threshold rule written inline (use polyground.threshold):\n" + "\n".join(found)


def test_the_inline_check_sees_a_rule():
    assert INLINE.search("keep = ys[:, -1] > threshold") and INLINE.search("bar = config.threshold + config.margin")
    assert not INLINE.search("share = float(above(ys, threshold).double().mean())")
