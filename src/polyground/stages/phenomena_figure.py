"""Stage ``phenomena_figure``: the figure of one phenomenon beyond the paper, from its metrics.

``python -m polyground.stages.phenomena_figure NAME`` reads ``metrics/NAME.json`` and writes
``figures/NAME.{png,pdf}`` (``phenomena_figures.FIGURES``).
"""

from __future__ import annotations

import argparse

import matplotlib.pyplot as plt

from ..config import load_params
from ..paths import figure, metrics_json
from ..phenomena_figures import FIGURES
from ..plotting import STYLE, save
from . import StageError, run_stage


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m polyground.stages.phenomena_figure", description=__doc__)
    parser.add_argument("name", choices=sorted(FIGURES))
    args = parser.parse_args(argv)
    params = load_params()
    metrics = metrics_json(args.name)
    if not metrics.exists():
        raise StageError(f"{metrics} is missing: run its stage first (dvc repro {args.name})")
    plt.rcParams.update(STYLE)
    save(FIGURES[args.name](), figure(args.name), params.figures.dpi)


if __name__ == "__main__":
    run_stage(main)
