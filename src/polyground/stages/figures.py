"""Stage ``figures``: the function-class figure and "pretrained model vs least squares vs ridge".

Outputs (PNG + PDF): ``figures/function_class``, ``figures/pretrain_vs_baselines``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..config import as_dict, load_params
from ..evaluate import read_curves
from ..plotting import STYLE, plot_curve, save
from ..stages.evaluate_pretrain import CURVE
from ..tasks import ChebyshevTask, chebyshev_eval, generator_for
from . import run_stage

Y_RANGE = 6.0


def function_class_figure(params) -> plt.Figure:
    """Example polynomials (top) and the density of y given x (bottom) for two classes."""
    config = params.figures
    classes = {
        f"Pretraining class (degree 0..{params.pretrain.task.max_degree})": ChebyshevTask(
            **as_dict(params.pretrain.task)
        ),
        f"Degree 5, {config.density_fixed_coefficients} fixed coefficients": ChebyshevTask(
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
    """Squared error vs in-context examples at 31 (paper) and at the full evaluation length."""
    curves = read_curves(CURVE)
    degree = params.evaluate.baseline_degree
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 2.6))
    for ax, points in zip(axes, (params.evaluate.plot_points, params.evaluate.points)):
        plot_curve(ax, curves["model"], "model", points)
        plot_curve(ax, curves["least_squares"], "least_squares", points, label=f"Least squares (degree {degree})")
        plot_curve(ax, curves["ridge"], "ridge", points, label=f"Ridge {params.evaluate.ridge:g} (degree {degree})")
        ax.set_ylim(top=1e3)
        ax.set_xlabel("in-context examples")
        ax.set_ylabel("squared error")
        ax.set_title(f"degree 0..{params.pretrain.task.max_degree}, {points} points")
        ax.axvline(degree + 1, color="0.6", lw=0.6, ls=":")
    axes[0].legend(frameon=False)
    fig.tight_layout()
    return fig


def main() -> None:
    params = load_params()
    plt.rcParams.update(STYLE)
    save(function_class_figure(params), "figures/function_class", params.figures.dpi)
    save(pretrain_figure(params), "figures/pretrain_vs_baselines", params.figures.dpi)


if __name__ == "__main__":
    run_stage(main)
