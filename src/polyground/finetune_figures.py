"""Figures of the fine-tuning half, from the metrics of ``evaluate_finetune`` and
``evaluate_soft_prompt_sweep``."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt

from .evaluate import read_curves
from .plotting import METHODS, label, plot_curve

STYLE = {
    "least_squares": {"ls": "--"},
    "ridge": {"ls": "--"},
    "full_finetune": {"ls": ":"},
    "soft_prompt_best": {"ls": "-.", "lw": 1.6},
}


def _method_label(method: str, config) -> str:
    if method == "ridge":
        return f"Ridge ({config.ridge:g})"
    if method == "soft_prompt_best":
        return f"Soft prompt ({config.sweep_pairs} pairs, sweep's best lr)"
    return label(method) if method in METHODS else f"Soft prompt ({method.rsplit('_', 1)[1]} pairs)"


def finetune_figure(params) -> plt.Figure:
    """One panel per k: the untouched model, each method, least squares and ridge (the paper's 2x2), and the
    Bayes-optimal limit of the class."""
    config = params.finetune
    ks = config.fixed_coefficients
    columns = 2 if len(ks) > 1 else 1
    rows = (len(ks) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(3.5 * columns, 2.6 * rows), squeeze=False, sharey=True)
    for ax, k in zip(axes.flat, ks):
        curves = read_curves(f"metrics/finetune/k{k}.csv")
        points = len(curves["zero"]["mean"])
        best = ["soft_prompt_best"] if "soft_prompt_best" in curves else []
        for method in ["pretrained", *config.methods, *best, "least_squares", "ridge"]:
            color_key = method if method in METHODS else "soft_prompt_50"
            plot_curve(
                ax, curves[method], color_key, points, label=_method_label(method, config), **STYLE.get(method, {})
            )
        bayes = curves["bayes"]["mean"][:points]
        ax.plot(range(points), bayes, color="black", lw=0.9, ls="--", label="Bayes-optimal (the limit)")
        ax.set_title(f"degree {config.degree}, {k} fixed coefficient{'s' if k != 1 else ''}")
        ax.set_xlabel("in-context examples")
        ax.set_ylabel("squared error")
        ax.set_ylim(top=1e2)
    for ax in list(axes.flat)[len(ks) :]:
        ax.axis("off")
    handles = {h.get_label(): h for ax in axes.flat for h in ax.get_lines()}  # every method, also k = 5's best prompt
    axes[0, 0].legend(handles.values(), handles.keys(), frameon=False, fontsize=6)
    fig.tight_layout()
    return fig


def soft_prompt_sweep_figure(params) -> plt.Figure:
    """The soft-prompt learning-rate sweep: one curve per learning rate, the untouched model for reference."""
    config = params.finetune
    curves = read_curves("metrics/soft_prompt_sweep.csv")
    metrics = json.loads(Path("metrics/soft_prompt_sweep.json").read_text())
    points = len(curves["pretrained"]["mean"])
    fig, ax = plt.subplots(figsize=(3.6, 2.6))
    plot_curve(ax, curves["pretrained"], "pretrained", points, label="Pretrained (untouched)")
    cmap = plt.get_cmap("viridis")
    for i, lr in enumerate(config.sweep_lrs):
        curve = curves[f"lr_{lr}"]
        shade = cmap(i / max(1, len(config.sweep_lrs) - 1))
        x = range(points)
        ax.plot(
            x,
            curve["mean"],
            color=shade,
            lw=1.6 if lr == metrics["best_lr"] else 0.9,
            label=f"lr {lr:g}" + (" (best)" if lr == metrics["best_lr"] else ""),
        )
        ax.fill_between(x, [max(v, 1e-4) for v in curve["low"]], curve["high"], color=shade, alpha=0.15, lw=0)
    ax.set_yscale("log")
    ax.set_ylim(1e-4, 1e2)
    ax.set_xlabel("in-context examples")
    ax.set_ylabel("squared error")
    ax.set_title(
        f"soft prompt, {config.sweep_pairs} pairs, {config.sweep_fixed_coefficients} fixed coefficients: lr sweep"
    )
    ax.legend(frameon=False, fontsize=5.5, ncol=2)
    fig.tight_layout()
    return fig
