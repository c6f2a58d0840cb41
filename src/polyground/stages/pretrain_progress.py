"""Stage ``pretrain_progress``: the progress figure of the pretraining run.

Reads ``logs/pretrain_progress.csv`` (the progress evaluations of ``pretrain.progress``) and writes
``figures/pretrain_progress`` (PNG + PDF): left, the error after 10, 20, 30 and 80 in-context
examples against training sequences (log-log) with the base model's targets dotted; right, the
error after 30 examples per degree of the drawn polynomial. With a second cycle
(``pretrain.continued``), a dashed line marks where it starts.
"""

from __future__ import annotations

import csv

import matplotlib.pyplot as plt

from ..config import load_params
from ..paths import PRETRAIN, figure, progress_log
from ..plotting import STYLE, legend_below, save
from . import StageError, run_stage

PROGRESS = progress_log(PRETRAIN)
TARGETS = {10: 0.25, 20: 0.05, 30: 0.02, 80: 0.01}  # the base model's targets (docs/long-run.md)


def main() -> None:
    params = load_params()
    if not PROGRESS.exists():
        raise StageError(f"{PROGRESS} is missing: publish the run's progress first (scripts/long_run.sh publish)")
    with open(PROGRESS, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise StageError(f"{PROGRESS} has no evaluations yet: let the run reach pretrain.progress.every steps")
    sequences = [int(r["sequences"]) for r in rows]
    plt.rcParams.update(STYLE)
    fig, (overall, per_degree) = plt.subplots(1, 2, figsize=(6.8, 3.2), sharey=True, layout="constrained")
    colors = plt.get_cmap("viridis")
    for i, (n, target) in enumerate(TARGETS.items()):
        if f"mse@{n}" not in rows[0]:
            continue
        shade = colors(i / len(TARGETS))
        overall.plot(sequences, [float(r[f"mse@{n}"]) for r in rows], color=shade, label=f"after {n} examples")
        overall.axhline(target, color=shade, ls=":", lw=0.8)
    degrees = sorted({int(k.split("_deg")[1]) for k in rows[0] if k.startswith("mse@30_deg")})
    for degree in degrees:
        per_degree.plot(
            sequences,
            [float(r[f"mse@30_deg{degree}"]) for r in rows],
            color=plt.get_cmap("plasma")(degree / max(1, len(degrees))),
            label=f"degree {degree}",
        )
    first = params.pretrain.train.steps * params.pretrain.train.batch_size  # sequences of the first cycle
    if params.pretrain.continued is not None:
        for ax in (overall, per_degree):
            ax.axvline(first, color="0.5", ls="--", lw=0.8)
        overall.annotate(
            "second cycle",
            (first, 1),
            xycoords=("data", "axes fraction"),
            xytext=(2, -8),
            textcoords="offset points",
            fontsize=6,
            color="0.4",
        )
    overall.set_ylabel("squared error")
    overall.set_title("overall (targets dotted)")
    per_degree.set_title("after 30 examples, per degree of the drawn polynomial")
    for ax in (overall, per_degree):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training sequences")
    overall.plot([], [], color="black", ls=":", lw=0.8, label="the base model's target (same colour)")
    legend_below(overall, ncol=2, fontsize=6)
    legend_below(per_degree, ncol=4, fontsize=6)
    save(fig, figure("pretrain_progress"), params.figures.dpi)


if __name__ == "__main__":
    run_stage(main)
