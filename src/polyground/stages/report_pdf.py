"""Stage ``report_pdf``: ``paper/report.pdf`` from ``paper/report.tex`` with pdflatex.

Needs a TeX engine (the Docker image has one; on Debian: ``apt-get install texlive-latex-base
texlive-latex-recommended texlive-fonts-recommended``); without one it says so and exits 2, and the
committed PDF (in the DVC remote) stays. The build is reproducible: fixed SOURCE_DATE_EPOCH, no
trailer ID, so the same inputs give the same bytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..files import copy_atomic
from . import StageError, run_stage

TEX, PDF = Path("paper/report.tex"), Path("paper/report.pdf")
ENGINE = "pdflatex"


def main() -> None:
    if shutil.which(ENGINE) is None:
        raise StageError(
            f"no TeX engine ({ENGINE}) on PATH, so {PDF} cannot be built: install one (Debian: apt-get install "
            "texlive-latex-base texlive-latex-recommended texlive-fonts-recommended) or use the Docker image; "
            f"{PDF} from `dvc pull` is unchanged"
        )
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1720000000", "FORCE_SOURCE_DATE": "1"}
    with tempfile.TemporaryDirectory() as build:
        for _ in range(2):  # second pass settles references
            result = subprocess.run(
                [ENGINE, "-interaction=nonstopmode", "-halt-on-error", f"-output-directory={build}", TEX.name],
                cwd=TEX.parent,
                env=env,
                capture_output=True,
                text=True,
            )
            if result.returncode:
                raise StageError(f"{ENGINE} failed on {TEX}:\n{result.stdout[-2000:]}")
        copy_atomic(Path(build) / "report.pdf", PDF)
    print(f"report_pdf: wrote {PDF}")


if __name__ == "__main__":
    run_stage(main)
