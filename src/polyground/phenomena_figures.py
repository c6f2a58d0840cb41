"""Figures of the phenomena beyond the paper, from the metrics their stages wrote."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from . import fits
from .plotting import color, label

SIZE_KINDS = {
    "pretrain": "paper_size",
    "pretrain_snapshot": "snapshot",
    "pretrain_small": "small",
    "pretrain_tiny": "tiny",
}


def _metrics(stage: str) -> dict:
    return json.loads(Path(f"metrics/{stage}.json").read_text())


def _by_number(values: dict[str, float]) -> dict[int, float]:
    """A mapping keyed by numbers written as JSON keys (sorted as text there), in numeric order."""
    return dict(sorted((int(n), v) for n, v in values.items()))


def elasticity_figure() -> plt.Figure:
    """Left: the share of the alignment achieved while aligning and undone while undoing (the most
    aligned model), per base, with the paper-size base's two-phase and exponential fits of the undo
    curve. Right: the share undone after ``compare_at`` sequences, per alignment budget."""
    metrics = _metrics("elasticity")
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 2.6))
    for name, result in metrics["bases"].items():
        kind = SIZE_KINDS[name]
        tint, name_label = color(kind), label(kind)
        forward, backward = _by_number(result["forward"]), _by_number(result["backward"])
        left.plot(
            list(forward),
            list(forward.values()),
            color=tint,
            ls="--",
            marker="o",
            ms=2.5,
            label=f"{name_label}: aligning",
        )
        left.plot(
            list(backward), list(backward.values()), color=tint, marker="s", ms=2.5, label=f"{name_label}: undoing"
        )
        if name == "pretrain":  # the claims' base: its undo fits, as shares (u - u*) / (u_base - u*)
            grid = np.geomspace(min(backward), max(backward), 100)
            u_star = result["base"]["unclamp"] - result["alignment_gap"]
            for form, style in (("two_phase", ":"), ("exponential", "-.")):
                fitted = result["undo_fits"][form]
                left.plot(
                    grid,
                    (fits.predict(fitted, grid) - u_star) / result["alignment_gap"],
                    color="black",
                    ls=style,
                    lw=0.8,
                    label=f"{form.replace('_', '-')} fit (held-out RMSE {fitted['held_out_rmse']:.3f})",
                )
        by_alignment = _by_number(result["elasticity_by_alignment"])
        right.plot(list(by_alignment), list(by_alignment.values()), color=tint, marker="o", ms=2.5, label=name_label)
    left.set_xscale("log", base=2)
    left.set_xlabel("fine-tuning sequences")
    left.set_ylabel("share of the alignment")
    left.set_title("aligning vs undoing at equal budgets")
    left.legend(frameon=False, fontsize=5)
    right.set_xscale("log", base=2)
    right.set_xlabel("aligning sequences")
    right.set_ylabel(f"share undone after {metrics['compare_at']} sequences")
    right.set_title("elasticity")
    right.legend(frameon=False, fontsize=6)
    fig.tight_layout()
    return fig


def safety_basin_figure() -> plt.Figure:
    """Left: V along each random direction around each aligned model (its basin's VISAGE in the
    legend). Middle: helpfulness along them. Right: V on the 2-D slice around the full fine-tuned model."""
    metrics = _metrics("safety_basin")
    alphas = metrics["alphas"]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(7.5, 2.6))
    for name, result in metrics["models"].items():
        tint = color(name) if name in ("lora", "full_finetune") else color("soft_prompt_50")
        for index, (violation, helpfulness) in enumerate(zip(result["violation"], result["helpfulness"])):
            left.plot(
                alphas,
                violation,
                color=tint,
                lw=0.9,
                alpha=0.8,
                label=f"{name.replace('_', ' ')}: VISAGE {result['visage']:.0f}" if index == 0 else None,
            )
            middle.plot(
                alphas, helpfulness, color=tint, lw=0.9, alpha=0.8, label=name.replace("_", " ") if index == 0 else None
            )
    left.set_ylabel("violation rate V (%)")
    middle.set_ylabel("helpfulness")
    for ax in (left, middle):
        ax.set_xlabel("alpha (x layer-normalised direction)", fontsize=7)
        ax.legend(frameon=False, fontsize=5)
    left.set_title(f"V along 3 directions (tolerance {metrics['tolerance']:g})", fontsize=8)
    middle.set_title("helpfulness along them", fontsize=8)
    grid = metrics["models"]["full_finetune"]["slice"]
    mesh = right.pcolormesh(
        grid["grid"], grid["grid"], np.array(grid["violation"]).T, cmap="magma", shading="nearest", vmin=0, vmax=100
    )
    fig.colorbar(mesh, ax=right, label="V (%)")
    right.set_xlabel("alpha (direction 1)")
    right.set_ylabel("beta (direction 2)")
    right.set_title("full fine-tuning, 2-D slice", fontsize=8)
    fig.tight_layout()
    return fig


def steering_figure() -> plt.Figure:
    """Left: alignment (1 - V) and helpfulness against the steering scale r, with the line and
    parabola fits, and the breakdown share (aligned by breaking is not aligned). Right: the
    alignment-helpfulness front, the aligned model as a point."""
    metrics = _metrics("steering")
    scales = np.array(metrics["scales"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 2.6))
    grid = np.linspace(scales.min(), scales.max(), 101)
    for method, style in (("mean_difference", "-"), ("principal_component", "--")):
        result = metrics["methods"][method]
        for key, tint, form in (
            ("alignment", color("aligned"), "linear"),
            ("helpfulness", color("least_squares"), "quadratic"),
        ):
            left.plot(scales, result[key], color=tint, ls="none", marker="o" if style == "-" else "x", ms=2.5)
            fitted = result[f"{key}_fits"][form]
            if fitted["converged"]:
                left.plot(
                    grid,
                    fits.predict(fitted, grid),
                    color=tint,
                    ls=style,
                    lw=0.9,
                    label=f"{key}, {method.replace('_', ' ')}: {form} fit",
                )
        left.plot(
            scales,
            np.array(result["breakdown"]) / 100,
            color="0.55",
            ls=style,
            lw=0.7,
            label=f"breakdown share, {method.replace('_', ' ')}",
        )
        front = scales >= 0
        right.plot(
            np.array(result["helpfulness"])[front],
            np.array(result["alignment"])[front],
            ls=style,
            marker="o",
            ms=2.5,
            color=color("pretrained"),
            label=f"steered base, {method.replace('_', ' ')}",
        )
    for name, point in metrics["aligned"].items():
        right.plot(
            [point["helpfulness"]],
            [point["alignment"]],
            "*",
            ms=7,
            label=f"aligned: {name.replace('_', ' ')}",
            color=color(name) if name in ("lora", "full_finetune") else color("soft_prompt_50"),
        )
    left.set_xlabel(f"steering scale r (stream spreads, layer {metrics['layer']})")
    left.set_ylabel("1 - V / helpfulness / breakdown")
    left.set_title("steering the base model")
    left.legend(frameon=False, fontsize=5)
    right.set_xlabel("helpfulness (1 - MSE / Var on safe queries)")
    right.set_ylabel("alignment (1 - V)")
    right.set_title("alignment-helpfulness front (r >= 0)")
    right.legend(frameon=False, fontsize=6)
    fig.tight_layout()
    return fig


def many_shot_figure() -> plt.Figure:
    """Behaviour weight w and violation rate V against the unclamped shots k (log k), per number
    of aligning examples m, with the form that best predicts the long k from the short k."""
    metrics = _metrics("many_shot")
    shots = np.array(metrics["shots"], float)
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 2.6))
    tints = plt.get_cmap("viridis")(np.linspace(0.1, 0.8, len(metrics["aligning"])))
    grid = np.geomspace(shots.min(), shots.max(), 101)
    for tint, m in zip(tints, sorted(metrics["aligning"], key=int)):
        result = metrics["aligning"][m]
        for ax, key in ((left, "weight"), (right, "violation")):
            ax.plot(shots, result["aligned"][key], ls="none", marker="o", ms=2.5, color=tint)
            best = min(result[f"{key}_fits"].values(), key=lambda fitted: fitted["held_out_rmse"])
            if best["converged"]:
                ax.plot(
                    grid,
                    fits.predict(best, grid),
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
    for ax, name in ((left, "behaviour weight w"), (right, "violation rate V (%)")):
        ax.axvline(metrics["fit_up_to"], color="0.6", lw=0.6, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("unclamped shots k (fitted left of the dotted line)", fontsize=7)
        ax.set_ylabel(name)
        ax.legend(frameon=False, fontsize=5)
    left.set_title("many-shot: weight of the unclamped behaviour", fontsize=8)
    right.set_title("violations", fontsize=8)
    fig.tight_layout()
    return fig


def post_training_scaling_figure() -> plt.Figure:
    """Format gap V and the two skill errors against the number of aligning sequences D (log-log),
    mean over seeds with their spread, and the power law fitted on D <= fit_up_to."""
    metrics = _metrics("post_training_scaling")
    sizes = np.array(metrics["dataset_sizes"], float)
    grid = np.geomspace(sizes.min(), sizes.max(), 101)
    names = {
        "format_gap": "format gap: violation share V",
        "safe_mse": "skill: error on safe queries",
        "clamped_mse": "skill: error of clamped degree-2 regression",
    }
    fig, axes = plt.subplots(1, 3, figsize=(7.0, 2.4))
    for ax, (curve, name) in zip(axes, names.items()):
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
            label=f"mean of {len(metrics['seeds'])} seeds",
        )
        for form, style in (("power", "-"), ("exponential", "--")):
            fitted = result["fits"][form]
            if fitted["converged"]:
                ax.plot(
                    grid,
                    np.clip(fits.predict(fitted, grid), 1e-6, None),
                    color=color("pretrained"),
                    ls=style,
                    lw=0.9,
                    label=f"{form} (held-out RMSE {fitted['held_out_rmse']:.2g})",
                )
        ax.axvline(metrics["fit_up_to"], color="0.6", lw=0.6, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("aligning sequences D")
        ax.set_title(name, fontsize=7)
        ax.legend(frameon=False, fontsize=5)
    fig.tight_layout()
    return fig


FIGURES = {
    "elasticity": elasticity_figure,
    "safety_basin": safety_basin_figure,
    "steering": steering_figure,
    "many_shot": many_shot_figure,
    "post_training_scaling": post_training_scaling_figure,
}
