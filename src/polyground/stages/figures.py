"""Stage ``figures``: every figure, from the metrics the evaluation stages wrote.

Outputs (PNG + PDF): ``figures/function_class``, ``figures/pretrain_vs_baselines``,
``figures/in_context_clamping``, ``figures/clamping_picture``, ``figures/model_sizes``,
``figures/aligned_model``, ``figures/jailbreak``, ``figures/jailbreak_normal_x_ablation``,
``figures/jailbreak_paper_degree`` (degree-``jailbreak.paper_degree`` polynomials, the paper's setting),
``figures/finetune_fixed_coefficients``, ``figures/soft_prompt_lr_sweep``.
"""

from __future__ import annotations

import csv

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..alignment_figures import aligned_model_figure, jailbreak_figure, model_sizes_figure
from ..config import as_dict, load_params
from ..evaluate import read_curves
from ..finetune_figures import finetune_figure, soft_prompt_sweep_figure
from ..paths import CLAMPING_PICTURE, PRETRAIN_CURVE, clamping_curves, figure
from ..plotting import STYLE, color, figure_legend, mark_paper, plot_curve, save
from ..readings import reading
from ..tasks import ChebyshevTask, chebyshev_eval, generator_for
from ..threshold import ABOVE, CLAMPED
from . import run_stage

Y_RANGE = 6.0


def function_class_figure(params) -> plt.Figure:
    """Example polynomials (top) and the density of y given x (bottom) for two classes."""
    config = params.figures
    classes = {
        f"Pretraining class (degree 0..{params.pretrain.task.max_degree})": ChebyshevTask(
            **as_dict(params.pretrain.task)
        ),
        f"Degree 5, first {config.density_fixed_coefficients} coefficients fixed at 1": ChebyshevTask(
            5, random_degree=False, fixed_coefficients=config.density_fixed_coefficients
        ),
    }
    grid = torch.linspace(-1, 1, 201)
    fig, axes = plt.subplots(2, 2, figsize=(7.0, 4.4), sharex=True)
    for column, (title, task) in enumerate(classes.items()):
        generator = generator_for(config.seed, "figure", column)
        examples = task.sample_coefficients(config.example_curves, generator)
        curves = chebyshev_eval(examples, grid.expand(config.example_curves, -1))
        ax = axes[0, column]
        ax.plot(grid, curves.T, lw=1)
        ax.set_title(title)
        ax.set_ylabel("p(x)")
        coefficients = task.sample_coefficients(config.density_samples, generator)
        ys = chebyshev_eval(coefficients, grid.expand(config.density_samples, -1)).numpy()
        bins = np.linspace(-Y_RANGE, Y_RANGE, 121)
        density = np.stack([np.histogram(ys[:, i], bins=bins, density=True)[0] for i in range(len(grid))], 1)
        ax = axes[1, column]
        centres = (bins[1:] + bins[:-1]) / 2
        mesh = ax.pcolormesh(grid.numpy(), centres, density, cmap="viridis", shading="nearest")
        fig.colorbar(mesh, ax=ax, label="density of y | x")
        ax.set_xlabel("x")
        ax.set_xticks([-1, -0.5, 0, 0.5, 1])
        ax.set_ylabel("y")
        share = float(np.mean(np.abs(ys) > Y_RANGE))
        ax.set_title(f"density of y given x ({share:.1%} of mass beyond |y| > {Y_RANGE:g})")
    fig.tight_layout()
    return fig


def pretrain_figure(params) -> plt.Figure:
    """Squared error vs in-context examples at 31 (paper) and at the full evaluation length, the paper's
    readings on the first; a dotted line where least squares becomes determined."""
    curves = read_curves(PRETRAIN_CURVE)
    degree = params.evaluate.baseline_degree
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.0), layout="constrained")
    for ax, points in zip(axes, (params.evaluate.plot_points, params.evaluate.points)):
        plot_curve(ax, curves["model"], "model", points)
        plot_curve(ax, curves["least_squares"], "least_squares", points, label=f"Least squares (degree {degree})")
        plot_curve(ax, curves["ridge"], "ridge", points, label=f"Ridge {params.evaluate.ridge:g} (degree {degree})")
        ax.plot(
            range(points),
            curves["bayes"]["mean"][:points],
            color="black",
            lw=0.9,
            ls="--",
            label="Bayes-optimal (the limit)",
        )
        ax.axvline(
            degree + 1,
            color="0.6",
            lw=0.8,
            ls=":",
            label=f"{degree + 1} examples (= coefficients): least squares determined",
        )
        ax.set_ylim(top=1e3)
        ax.set_xlabel("in-context examples")
        ax.set_ylabel("squared error")
        ax.set_title(f"degree 0..{params.pretrain.task.max_degree}, {points} points")
    mark_paper(axes[0], reading("pretrain.transformer"), text="paper: transformer (approx.)")
    ridge = f"paper: ridge {params.evaluate.ridge:g} (approx.)"
    mark_paper(axes[0], reading("pretrain.ridge"), color("ridge"), text=ridge)
    figure_legend(fig, ncol=3)
    return fig


def clamping_figure(params) -> plt.Figure:
    """Behavior I: error against the clamped value vs clamped context length, one column per degree;
    top row every query, bottom row the paper's view (queries whose true y is above T, target T), with
    the paper's readings at degree 8."""
    degrees = params.clamping.degrees
    fig, axes = plt.subplots(2, len(degrees), figsize=(3.5 * len(degrees), 5.6), squeeze=False, layout="constrained")
    views = {"": ("every query", CLAMPED), "_above": (f"{ABOVE} (the paper's view)", "T")}
    for row, (suffix, (view, target)) in zip(axes, views.items()):
        for ax, degree in zip(row, degrees):
            curves = read_curves(clamping_curves(degree, suffix))
            points = len(curves["model"]["mean"])
            plot_curve(ax, curves["model"], "pretrained", points, label="Pretrained (never saw clamping)")
            plot_curve(
                ax, curves["least_squares"], "least_squares", points, label="Least squares (the polynomials' degree)"
            )
            plot_curve(ax, curves["zero"], "zero", points)
            if degree == 8 and suffix == "_above":
                mark_paper(ax, reading("clamping_degree_8.transformer"))
            ax.set_ylim(top=1e2)
            ax.set_xlabel("clamped in-context examples")
            ax.set_ylabel(f"squared error vs {target}")
            above = degree > params.pretrain.task.max_degree
            ax.set_title(
                f"degree {degree}, clamp T = {params.clamping.threshold:g}:\n{view}"
                + (" - WARNING: above the training class" if above else ""),
                color="red" if above else "black",
                fontsize=8,
            )
    figure_legend(fig, ncol=4)
    return fig


def clamping_picture(params) -> plt.Figure:
    """One polynomial, its clamped context, and the model's prediction at every query x."""
    with open(CLAMPING_PICTURE, newline="") as handle:
        rows = list(csv.DictReader(handle))
    grid = [r for r in rows if r["kind"] == "grid"]
    context = [r for r in rows if r["kind"] == "context"]
    x = [float(r["x"]) for r in grid]
    fig, ax = plt.subplots(figsize=(3.6, 3.1), layout="constrained")
    ax.plot(x, [float(r["p"]) for r in grid], color="0.7", lw=1, label="p(x)")
    ax.plot(x, [float(r["clamped"]) for r in grid], color="0.2", lw=1, ls="--", label=CLAMPED)
    ax.plot(x, [float(r["model"]) for r in grid], color=color("pretrained"), label="Pretrained, queried at x")
    ax.plot(
        x,
        [float(r["least_squares"]) for r in grid],
        color=color("least_squares"),
        lw=0.9,
        label=f"Least squares (degree {params.clamping.picture_degree})",
    )
    ax.scatter(
        [float(r["x"]) for r in context],
        [float(r["clamped"]) for r in context],
        s=8,
        color="black",
        zorder=3,
        label=f"{len(context)} clamped examples",
    )
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"degree {params.clamping.picture_degree}, clamp T = {params.clamping.threshold:g}")
    figure_legend(fig, ncol=2, fontsize=6)
    return fig


def main() -> None:
    params = load_params()
    plt.rcParams.update(STYLE)
    save(function_class_figure(params), figure("function_class"), params.figures.dpi)
    save(pretrain_figure(params), figure("pretrain_vs_baselines"), params.figures.dpi)
    save(clamping_figure(params), figure("in_context_clamping"), params.figures.dpi)
    save(clamping_picture(params), figure("clamping_picture"), params.figures.dpi)
    save(model_sizes_figure(params), figure("model_sizes"), params.figures.dpi)
    save(aligned_model_figure(params), figure("aligned_model"), params.figures.dpi)
    save(jailbreak_figure(params, "uniform_x"), figure("jailbreak"), params.figures.dpi)
    save(jailbreak_figure(params, "normal_x_ablation"), figure("jailbreak_normal_x_ablation"), params.figures.dpi)
    save(
        jailbreak_figure(params, f"degree_{params.jailbreak.paper_degree}"),
        figure("jailbreak_paper_degree"),
        params.figures.dpi,
    )
    save(finetune_figure(params), figure("finetune_fixed_coefficients"), params.figures.dpi)
    save(soft_prompt_sweep_figure(params), figure("soft_prompt_lr_sweep"), params.figures.dpi)


if __name__ == "__main__":
    run_stage(main)
