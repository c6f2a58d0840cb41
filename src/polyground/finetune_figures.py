"""Figures of the fine-tuning half, from the metrics of ``evaluate_finetune`` and
``evaluate_soft_prompt_sweep``."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt

from .evaluate import read_curves
from .paths import finetune_curves, metrics_csv, metrics_json
from .plotting import (
    PAPER,
    PAPER_LABEL,
    color,
    figure_legend,
    key,
    label,
    legend_entries,
    mark_paper,
    plot_curve,
)
from .readings import FINETUNE_AT, READINGS

STYLE = {
    "least_squares": {"ls": "--"},
    "ridge": {"ls": "--"},
    "full_finetune": {"ls": ":"},
    "soft_prompt_best": {"ls": "-.", "lw": 1.6},
}

PAPER_COLOURED = f"{PAPER_LABEL} after {FINETUNE_AT}, the curve's colour"


def _method_label(method: str, config) -> str:
    if method == "ridge":
        return f"Ridge ({config.ridge:g})"
    if method == "soft_prompt_best":
        return f"Soft prompt ({config.sweep_pairs} pairs, the sweep's best lr)"
    return label(method)


def _mark_paper_at(ax: plt.Axes, colours: list[str], values: list[float], names: list[str] | None = None) -> None:
    """The paper's values after ``FINETUNE_AT`` examples, one per curve in its colour, set side by side
    around ``FINETUNE_AT`` so that close values stay visible, each with its name where given."""
    middle = (len(values) - 1) / 2
    for i, (colour, value) in enumerate(zip(colours, values)):
        x = FINETUNE_AT + 0.8 * (i - middle)
        mark_paper(ax, {x: value}, colour, text="_paper")
        if names:
            ax.annotate(names[i], (x, value), xytext=(5, 0), textcoords="offset points", va="center", fontsize=5.5)


def _title(config, k: int) -> str:
    fixed = {0: "no coefficient fixed", 1: "first coefficient fixed at 1"}.get(k, f"first {k} coefficients fixed at 1")
    return f"degree {config.degree}, {fixed}"


def finetune_figure(params) -> plt.Figure:
    """One panel per k: the untouched model, each method, least squares and ridge (the paper's 2x2), the
    Bayes-optimal limit of the class and the paper's values."""
    config = params.finetune
    ks = config.fixed_coefficients
    columns = 2 if len(ks) > 1 else 1
    rows = (len(ks) + columns - 1) // columns
    fig, axes = plt.subplots(
        rows, columns, figsize=(3.5 * columns, 2.6 * rows + 0.6), squeeze=False, sharey=True, layout="constrained"
    )
    for ax, k in zip(axes.flat, ks):
        curves = read_curves(finetune_curves(k))
        points = len(curves["zero"]["mean"])
        best = ["soft_prompt_best"] if "soft_prompt_best" in curves else []
        for method in ["pretrained", *config.methods, *best, "least_squares", "ridge"]:
            plot_curve(ax, curves[method], method, points, label=_method_label(method, config), **STYLE.get(method, {}))
        bayes = curves["bayes"]["mean"][:points]
        ax.plot(range(points), bayes, color="black", lw=0.9, ls="--", label="Bayes-optimal (the limit)")
        paper = {m: v for m, v in READINGS["finetune"].get(k, {}).items() if m in curves}  # the methods drawn
        _mark_paper_at(ax, [color(m) for m in paper], list(paper.values()))
        ax.set_title(_title(config, k))
        ax.set_xlabel("in-context examples")
        ax.set_ylabel("squared error")
        ax.set_ylim(top=1e2)
    for ax in list(axes.flat)[len(ks) :]:
        ax.axis("off")
    entries = legend_entries(*axes.flat)
    entries[PAPER_COLOURED] = key(**(PAPER | {"color": "0.6"}))
    figure_legend(fig, entries, ncol=4, fontsize=6.5)  # every method, also k = 5's best prompt
    return fig


def soft_prompt_sweep_figure(params) -> plt.Figure:
    """The soft-prompt learning-rate sweep: one curve per learning rate (the best in the best-rate prompt's
    style), the untouched model for reference and the paper's values."""
    config = params.finetune
    curves = read_curves(metrics_csv("soft_prompt_sweep"))
    metrics = json.loads(metrics_json("soft_prompt_sweep").read_text())
    points = len(curves["pretrained"]["mean"])
    fig, ax = plt.subplots(figsize=(3.6, 3.4), layout="constrained")
    plot_curve(ax, curves["pretrained"], "pretrained", points, label="Pretrained (untouched)")
    shades = {"pretrained": color("pretrained")}
    for i, lr in enumerate(config.sweep_lrs):
        x = range(points)
        curve = curves[f"lr_{lr}"]
        if lr == metrics["best_lr"]:
            plot_curve(ax, curve, "soft_prompt_best", points, label=f"lr {lr:g} (best)", **STYLE["soft_prompt_best"])
            shades[lr] = color("soft_prompt_best")
            continue
        shades[lr] = f"{0.1 + 0.65 * i / max(1, len(config.sweep_lrs) - 1):.2f}"  # grey, darker the larger the lr
        ax.plot(x, curve["mean"], color=shades[lr], lw=0.9, label=f"lr {lr:g}")
        ax.fill_between(x, [max(v, 1e-4) for v in curve["low"]], curve["high"], color=shades[lr], alpha=0.15, lw=0)
    untouched, rates = READINGS["finetune"][0], READINGS["finetune_rates"]  # the paper's sweep is its k = 0 grid
    paper_sweep = {"pretrained": untouched["pretrained"]} | {rate: untouched[name] for name, rate in rates.items()}
    paper = {lr: value for lr, value in paper_sweep.items() if lr in shades}
    names = ["untouched" if lr == "pretrained" else f"lr {lr:g}" for lr in paper]
    _mark_paper_at(ax, [shades[lr] for lr in paper], list(paper.values()), names)
    ax.set_yscale("log")
    ax.set_ylim(1e-4, 1e2)
    ax.set_xlabel("in-context examples")
    ax.set_ylabel("squared error")
    ax.set_title(
        f"soft prompt ({config.sweep_pairs} pairs): learning-rate sweep,\n"
        + _title(config, config.sweep_fixed_coefficients)
    )
    entries = legend_entries(ax)
    entries[PAPER_COLOURED] = key(**(PAPER | {"color": "0.6"}))
    figure_legend(fig, entries, ncol=2, fontsize=6)
    return fig
