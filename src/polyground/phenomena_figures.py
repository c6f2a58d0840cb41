"""Figures of the phenomena beyond the paper, from the metrics their stages wrote."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np

from . import fits
from .paths import metrics_json
from .plotting import color, figure_legend, key, label, legend_below, legend_entries, style, within

SIZE_KINDS = {
    "pretrain": "paper_size",
    "pretrain_snapshot": "snapshot",
    "pretrain_small": "small",
    "pretrain_tiny": "tiny",
}
VIOLATION = "V: % of harmful queries (p(x) > T + margin, T the clamp) answered above T + margin"


def _metrics(stage: str) -> dict:
    return json.loads(metrics_json(stage).read_text())


def _by_number(values: dict[str, float]) -> dict[int, float]:
    """A mapping keyed by numbers written as JSON keys (sorted as text there), in numeric order."""
    return dict(sorted((int(n), v) for n, v in values.items()))


def elasticity_figure() -> plt.Figure:
    """Left: the share of the alignment achieved while aligning and undone while undoing (the most
    aligned model), per base, with the paper-size base's two-phase and exponential fits of the undo
    curve. Right: the share undone after ``compare_at`` sequences, per alignment budget."""
    metrics = _metrics("elasticity")
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 3.3), layout="constrained")
    entries = {}
    for name, result in metrics["bases"].items():
        kind = SIZE_KINDS[name]
        tint = color(kind)
        entries[f"base: {label(kind)}"] = key(color=tint)
        forward, backward = _by_number(result["forward"]), _by_number(result["backward"])
        left.plot(list(forward), list(forward.values()), color=tint, ls="--", marker="o", ms=2.5)
        left.plot(list(backward), list(backward.values()), color=tint, marker="s", ms=2.5)
        if name == "pretrain":  # the claims' base: its undo fits, as shares (u - u*) / (u_base - u*)
            grid = np.geomspace(min(backward), max(backward), 100)
            u_star = result["base"]["unclamp"] - result["alignment_gap"]
            for form, ls in (("two_phase", ":"), ("exponential", "-.")):
                fitted = result["undo_fits"][form]
                left.plot(
                    grid,
                    (fits.predict(fitted, grid) - u_star) / result["alignment_gap"],
                    color="black",
                    ls=ls,
                    lw=0.8,
                    label=f"{label(kind)}, undoing: {form.replace('_', '-')} fit "
                    f"(held-out RMSE {fitted['held_out_rmse']:.3f})",
                )
        by_alignment = _by_number(result["elasticity_by_alignment"])
        right.plot(list(by_alignment), list(by_alignment.values()), color=tint, marker="o", ms=2.5)
    entries |= {
        "aligning (clamped data): share achieved": key(ls="--", marker="o", ms=2.5),
        "undoing (unclamped data): share undone": key(marker="s", ms=2.5),
        **legend_entries(left),
    }
    left.set_xscale("log", base=2)
    left.set_xlabel("fine-tuning sequences")
    left.set_ylabel("share of the alignment\nachieved or undone")
    left.set_title("aligning vs undoing at equal budgets")
    right.set_xscale("log", base=2)
    right.set_xlabel("aligning sequences")
    right.set_ylabel(f"share undone after {metrics['compare_at']}\nunclamped sequences")
    right.set_title("elasticity, per alignment budget")
    figure_legend(fig, entries, ncol=3, fontsize=6.5)
    return fig


def safety_basin_figure() -> plt.Figure:
    """Left: V along each random direction around each aligned model (its basin's VISAGE in the
    legend). Middle: helpfulness along them. Right: V on the 2-D slice around the full fine-tuned model."""
    metrics = _metrics("safety_basin")
    alphas = metrics["alphas"]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(7.5, 3.3), layout="constrained")
    entries = {}
    for name, result in metrics["models"].items():
        for violation, helpfulness in zip(result["violation"], result["helpfulness"]):
            left.plot(alphas, violation, lw=0.9, alpha=0.8, **style(name))
            middle.plot(alphas, helpfulness, lw=0.9, alpha=0.8, **style(name))
        entries[f"{label(name)}: VISAGE {result['visage']:.0f}"] = key(**style(name))
    left.set_ylabel("violation rate V (%)")
    middle.set_ylabel("helpfulness\n(1 - MSE / variance, safe queries)")
    for ax in (left, middle):
        ax.set_xlabel("step alpha along a random direction\n(scaled to each weight matrix's norm)", fontsize=7)
    left.set_title("V along 3 random directions", fontsize=8)
    middle.set_title("helpfulness along them", fontsize=8)
    grid = metrics["models"]["full_finetune"]["slice"]
    mesh = right.pcolormesh(
        grid["grid"], grid["grid"], np.array(grid["violation"]).T, cmap="magma", shading="nearest", vmin=0, vmax=100
    )
    fig.colorbar(mesh, ax=right, label="V (%)")
    right.set_xlabel("alpha (direction 1)")
    right.set_ylabel("beta (direction 2)")
    right.set_title(f"{label('full_finetune')}, 2-D slice", fontsize=8)
    figure_legend(
        fig,
        entries,
        ncol=3,
        fontsize=6.5,
        title=f"{VIOLATION}. Basin: the alphas around 0 where V stays within {metrics['tolerance']:g} points "
        "of the aligned model's.\nVISAGE: the sum of (100 - V) over the basin / the number of alphas, "
        "mean over directions (100: safe everywhere)",
        title_fontsize=6,
    )
    return fig


def _steering_points(left: plt.Axes, right: plt.Axes, scales: np.ndarray, result: dict, marker: str, ls: str):
    """One steering method: its alignment and helpfulness with their fits and its breakdown share
    against r (left), and its front for r >= 0 (right)."""
    grid = np.linspace(scales.min(), scales.max(), 101)
    for quantity, tint, form, high in (
        ("alignment", color("aligned"), "linear", 1),
        ("helpfulness", color("least_squares"), "quadratic", 1),
    ):
        left.plot(scales, result[quantity], color=tint, ls="none", marker=marker, ms=2.5)
        fitted = result[f"{quantity}_fits"][form]
        if fitted["converged"]:
            left.plot(grid, within(fits.predict(fitted, grid), -np.inf, high), color=tint, ls=ls, lw=0.9)
    left.plot(scales, np.array(result["breakdown"]) / 100, color="0.55", ls=ls, lw=0.7)
    front = scales >= 0
    right.plot(
        np.array(result["helpfulness"])[front],
        np.array(result["alignment"])[front],
        ls=ls,
        marker=marker,
        ms=2.5,
        color=color("pretrained"),
    )


def steering_figure() -> plt.Figure:
    """Left: alignment (1 - V) and helpfulness against the steering scale r, with the line and
    parabola fits, and the breakdown share (aligned by breaking is not aligned). Right: the
    alignment-helpfulness front, the aligned model as a point."""
    metrics = _metrics("steering")
    scales = np.array(metrics["scales"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 3.4), layout="constrained")
    methods = {"mean_difference": ("o", "-"), "principal_component": ("x", "--")}
    for method, (marker, ls) in methods.items():
        _steering_points(left, right, scales, metrics["methods"][method], marker, ls)
    for name, point in metrics["aligned"].items():
        right.plot([point["helpfulness"]], [point["alignment"]], "*", ms=7, color=color(name))
    entries = {
        "alignment: 1 - V / 100 (line fit)": key(color=color("aligned")),
        "helpfulness: 1 - MSE / variance, safe queries (parabola fit)": key(color=color("least_squares")),
        "breakdown share: answers near neither T nor p(x)": key(color="0.55"),
        **{
            f"steering by the {method.replace('_', ' ')}": key(marker=marker, ls=ls, ms=3)
            for method, (marker, ls) in methods.items()
        },
        "steered base model (right panel)": key(color=color("pretrained"), marker="o", ms=3),
        **{
            f"aligned: {label(name)}": key(marker="*", ls="none", ms=7, color=color(name))
            for name in metrics["aligned"]
        },
    }
    left.set_xlabel(f"steering scale r (in spreads of the residual stream, layer {metrics['layer']})")
    left.set_ylabel("alignment / helpfulness / breakdown")
    left.set_title("steering the base model")
    right.set_xlabel("helpfulness")
    right.set_ylabel("alignment")
    right.set_title("alignment-helpfulness front (r >= 0)")
    figure_legend(fig, entries, ncol=3, fontsize=6.5, title=VIOLATION, title_fontsize=6.5)
    return fig


def many_shot_figure() -> plt.Figure:
    """Behaviour weight w and violation rate V against the unclamped shots k (log k), per number
    of aligning examples m, with the form that best predicts the long k from the short k."""
    metrics = _metrics("many_shot")
    shots = np.array(metrics["shots"], float)
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 3.5), layout="constrained")
    tints = plt.get_cmap("viridis")(np.linspace(0.1, 0.8, len(metrics["aligning"])))
    grid = np.geomspace(shots.min(), shots.max(), 101)
    for tint, m in zip(tints, sorted(metrics["aligning"], key=int)):
        result = metrics["aligning"][m]
        for ax, quantity, (low, high) in ((left, "weight", (-np.inf, np.inf)), (right, "violation", (0, 100))):
            ax.plot(shots, result["aligned"][quantity], ls="none", marker="o", ms=2.5, color=tint)
            best = min(result[f"{quantity}_fits"].values(), key=lambda fitted: fitted["held_out_rmse"])
            if best["converged"]:
                ax.plot(
                    grid,
                    within(fits.predict(best, grid), low, high),
                    color=tint,
                    lw=0.9,
                    label=f"m = {m}: {best['form'].replace('_', '-')} fit (held-out RMSE {best['held_out_rmse']:.2g})",
                )
    left.plot(
        shots,
        metrics["aligning"]["0"]["pretrained"]["weight"],
        color=color("pretrained"),
        ls=":",
        label=f"{label('pretrained')} (m = 0)",
    )
    rule = f"T + {metrics['margin']:g}"
    left.set_ylabel("behaviour weight w\n(0: answers T, 1: follows p(x))")
    right.set_ylabel(f"violation rate V (%)\n(harmful queries answered > {rule})")
    left.set_title("many-shot: weight of the unclamped behaviour", fontsize=8)
    right.set_title("violations", fontsize=8)
    for ax in (left, right):
        ax.axvline(metrics["fit_up_to"], color="0.6", lw=0.6, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("unclamped shots k (fitted left of the dotted line)", fontsize=7)
        legend_below(ax, fontsize=6, title="m: clamped examples before the k unclamped ones", title_fontsize=6)
    return fig


def post_training_scaling_figure() -> plt.Figure:
    """Format gap V and the two skill errors against the number of aligning sequences D (log-log),
    mean over seeds with their spread, and the power law fitted on D <= fit_up_to."""
    metrics = _metrics("post_training_scaling")
    sizes = np.array(metrics["dataset_sizes"], float)
    grid = np.geomspace(sizes.min(), sizes.max(), 101)
    panels = {  # curve: title, y label, the largest value it can take
        "format_gap": ("format gap: the clamp ignored", "share of harmful queries\nanswered above the clamp", 1),
        "safe_mse": ("skill: safe queries", "squared error on safe queries", np.inf),
        "clamped_mse": ("skill: clamped degree-2 regression", "squared error vs min(p(x), T)", np.inf),
    }
    fig, axes = plt.subplots(1, 3, figsize=(7.0, 3.0), layout="constrained")
    for ax, (curve, (title, ylabel, high)) in zip(axes, panels.items()):
        result = metrics["curves"][curve]
        ax.errorbar(
            sizes,
            result["mean"],
            yerr=result["std"],
            color=color("aligned"),
            ls="none",
            marker="o",
            ms=2.5,
            capsize=1.5,
            lw=0.8,
            label=f"mean and sd of {len(metrics['seeds'])} seeds",
        )
        for form, ls in (("power", "-"), ("exponential", "--")):
            fitted = result["fits"][form]
            if fitted["converged"]:
                ax.plot(
                    grid,
                    within(fits.predict(fitted, grid), 1e-6, high),
                    color=color("pretrained"),
                    ls=ls,
                    lw=0.9,
                    label=f"{form} fit (held-out RMSE {fitted['held_out_rmse']:.2g})",
                )
        ax.axvline(metrics["fit_up_to"], color="0.6", lw=0.6, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"aligning sequences D\n(fits on D <= {metrics['fit_up_to']}, dotted)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=7)
        legend_below(ax, fontsize=6)
    return fig


FIGURES = {
    "elasticity": elasticity_figure,
    "safety_basin": safety_basin_figure,
    "steering": steering_figure,
    "many_shot": many_shot_figure,
    "post_training_scaling": post_training_scaling_figure,
}
