"""The reproduction report: numbers only through generated macros, and the PDF stage."""

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from polyground.stages import report
from polyground.stages.report import METRICS, flatten, macro_name, tex_number

TEX = (ROOT / "paper" / "report.tex").read_text()


def test_macro_names_are_letters_only():
    assert macro_name("pretrain", "model.mse@10") == "PretrainModelMseAtOneZero"
    assert (
        macro_name("jailbreak_setups/authors", "rate_by_margin.-0.01")
        == "JailbreakSetupsAuthorsRateByMarginMinusZeroZeroOne"
    )
    assert (
        macro_name("seed_spread", "metrics/pretrain.json.model.mse@5.std")
        == "SeedSpreadMetricsPretrainJsonModelMseAtFiveStd"
    )


def test_each_generated_macro_is_defined_once():
    """Two metrics whose names differ only in what the letters-only names drop would collide in TeX."""
    generated = (ROOT / "paper" / "generated" / "numbers.tex").read_text()
    names = re.findall(r"\\newcommand\{\\([A-Za-z]+)\}", generated)
    assert names and len(names) == len(set(names)), sorted(n for n in set(names) if names.count(n) > 1)


def test_every_macro_the_report_uses_is_generated():
    generated = "".join((ROOT / "paper" / "generated" / f).read_text() for f in ("numbers.tex", "claims.tex"))
    defined = set(re.findall(r"\\newcommand\{\\([A-Za-z]+)\}", generated))
    used = set(
        re.findall(
            r"\\((?:Pretrain|SeedSpread|Clamping|Claims|ModelSizes|Align|Jailbreak|Finetune|SoftPromptSweep)[A-Za-z]*)",
            TEX,
        )
    )
    assert used and used <= defined, f"undefined: {used - defined}"


def test_no_metric_value_is_typed_into_the_text():
    # figure widths and the text's own settings ($\lambda=0.2$) are not measurements
    text = re.sub(r"\[width=[^]]*\]|=\s*[\d.]+", "", TEX)
    for path in METRICS:
        for key, value in flatten(json.loads((ROOT / path).read_text())).items():
            if abs(value) >= 0.01 and not float(value).is_integer():
                typed = re.search(rf"(?<![\d.]){re.escape(tex_number(value))}(?!\d)", text)
                assert not typed, f"{path}:{key} = {value} typed into report.tex"


def test_committed_numbers_are_what_the_stage_writes(monkeypatch):
    monkeypatch.chdir(ROOT)
    committed = (ROOT / "paper" / "generated" / "numbers.tex").read_text()
    if not (ROOT / "models" / "pretrain" / "model.json").exists():  # a clone without `dvc pull`
        monkeypatch.setattr(report, "SIDECARS", {})
        committed = "".join(line for line in committed.splitlines(True) if "{\\PretrainRun" not in line)
    assert committed == report.numbers()


def _report_copy(tmp_path):
    for name in ("paper", "figures"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


def test_pdf_stage_without_tex_engine_says_what_to_install(tmp_path):
    repo = _report_copy(tmp_path)
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no pdflatex here
    result = subprocess.run(
        [sys.executable, "-m", "polyground.stages.report_pdf"], cwd=repo, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2 and "no TeX engine" in result.stderr and "apt-get install" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no TeX engine here (the Docker image has one)")
def test_pdf_builds_reproducibly(tmp_path):
    repo = _report_copy(tmp_path)
    (repo / "paper" / "report.pdf").unlink(missing_ok=True)
    pdfs = []
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-m", "polyground.stages.report_pdf"], cwd=repo, check=True, capture_output=True
        )
        pdfs.append((repo / "paper" / "report.pdf").read_bytes())
    assert pdfs[0].startswith(b"%PDF") and len(pdfs[0]) > 10_000
    assert pdfs[0] == pdfs[1], "same inputs, different PDF bytes"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_value_that_is_not_finite_is_written_as_n_a(value):
    assert tex_number(value) == "n/a"


def test_the_claims_texts_special_characters_are_written_as_tex():
    """Every statement and paper value of the claims, escaped: no character outside math that LaTeX's
    default font renders as another glyph ("->" as "-¿", "~" as a space) or that is special to TeX."""
    from polyground.claims import load_claims
    from polyground.stages.report import tex_escape

    texts = [c[f] for c in load_claims(ROOT / "paper/claims.yaml") for f in ("statement", "paper_value") if f in c]
    texts.append("a -> b ~0.3 < 2 > 1 T^2 50 % & x_1 {y} #3 $5 C:\\path")
    assert any("->" in t for t in texts) and any("~" in t for t in texts)
    for text in texts:
        escaped = tex_escape(text)
        outside_math = re.sub(r"\$[^$]*\$", "", re.sub(r"\\[&%$#_{}]", "", escaped))
        assert not re.search(r"(?<!\\)[&%#_]", re.sub(r"\$[^$]*\$", "", escaped)), (text, escaped)
        assert not set(outside_math) & set("~^<>$"), (text, escaped)
