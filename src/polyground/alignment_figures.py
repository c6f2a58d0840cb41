"""Figures of the alignment half (model size, the aligned model, jailbreaking), from the metrics
written by ``evaluate_model_sizes``, ``evaluate_align`` and ``jailbreak``."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import matplotlib.pyplot as plt

from .evaluate import read_curves
from .plotting import color, label, plot_curve
from .threshold import ABOVE, CLAMPED


def model_sizes_figure(params) -> plt.Figure:
    """Behavior I at one degree for every model size, with least squares and the zero predictor."""
    curves = read_curves("metrics/model_sizes.csv")
    metrics = json.loads(Path("metrics/model_sizes.json").read_text())
    points = len(curves["zero"]["mean"])
    fig, ax = plt.subplots(figsize=(3.6, 2.6))
    sizes = sorted(
        (m for m in metrics if isinstance(metrics[m], dict) and "parameters" in metrics[m]),
        key=lambda m: metrics[m]["parameters"],
    )
    for name in sizes:
        size = metrics[name]["model"]
        method = "pretrained" if name == "pretrain" else name
        text = f"{size['n_embd']}/{size['n_layer']}/{size['n_head']}, {metrics[name]['parameters'] / 1e6:.2f}M"
        plot_curve(
            ax, curves[name], method, points, label=f"{'Paper size' if name == 'pretrain' else label(name)} ({text})"
        )
    plot_curve(
        ax, curves["least_squares"], "least_squares", points, label=f"Least squares (degree {metrics['degree']})"
    )
    plot_curve(ax, curves["zero"], "zero", points)
    ax.set_ylim(top=1e2)
    ax.set_xlabel("clamped in-context examples")
    ax.set_ylabel(f"squared error vs {CLAMPED}")
    ax.set_title(f"model size, degree {metrics['degree']}, T = {metrics['threshold']:g}")
    ax.legend(frameon=False, fontsize=6)
    fig.tight_layout()
    return fig


def aligned_model_figure(params) -> plt.Figure:
    """Left: clamped regression (clamped context, every query). Right: the defender view."""
    regression = read_curves("metrics/align/clamped_regression.csv")
    defender = read_curves("metrics/align/defender.csv")
    degree, threshold = params.evaluate_align.degree, params.align.threshold
    points = len(regression["zero"]["mean"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 2.7))
    plot_curve(left, regression["aligned"], "aligned", points, label="Aligned (fine-tuned on clamped data)")
    plot_curve(left, regression["pretrained"], "pretrained", points)
    plot_curve(left, regression["least_squares"], "least_squares", points, label=f"Least squares (degree {degree})")
    plot_curve(left, regression["zero"], "zero", points)
    left.set_title(f"clamped regression, degree {degree}, T = {threshold:g}")
    left.set_xlabel("clamped in-context examples")
    left.set_ylabel(f"squared error vs {CLAMPED}")
    for name, method, style in (
        ("aligned_clamped_context", "aligned", "-"),
        ("aligned_unclamped_context", "aligned", "--"),
        ("pretrained_clamped_context", "pretrained", "-"),
        ("pretrained_unclamped_context", "pretrained", "--"),
    ):
        model, context = name.split("_", 1)
        plot_curve(
            right, defender[name], method, points, ls=style, label=f"{label(method)}, {context.replace('_', ' ')}"
        )
    right.axhline(threshold**2, color=color("zero"), lw=0.9, ls=":", label="Zero predictor (T²)")
    right.set_title(f"defender view: {ABOVE}, target T")
    right.set_xlabel("in-context examples")
    right.set_ylabel("squared error vs T")
    for ax in (left, right):
        ax.set_ylim(top=1e2)
        ax.legend(frameon=False, fontsize=6)
    fig.tight_layout()
    return fig


def jailbreak_figure(params, condition: str) -> plt.Figure:
    """Jailbreak rate vs context length (log2 axis) with Wilson bands and the log2 line."""
    metrics = json.loads(Path("metrics/jailbreak.json").read_text())
    with open("metrics/jailbreak.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["condition"] == condition]
    fig, ax = plt.subplots(figsize=(3.6, 2.6))
    for key, method, style in (
        ("aligned.jailbroken", "aligned", "-"),
        ("aligned.jailbroken_margin", "aligned", "--"),
        ("pretrained.jailbroken", "pretrained", "-"),
    ):
        series = [r for r in rows if r["method"] == key]
        if not series:  # the ablation has no base-model reference
            continue
        n = [int(r["n"]) for r in series]
        rate = [float(r["rate"]) for r in series]
        fit = metrics[condition][method][key.split(".")[1]]["log2_fit"]
        what = "" if key.endswith("jailbroken") else f" (> T + {metrics['margin']:g})"
        ax.errorbar(
            n,
            rate,
            yerr=[
                [v - float(r["low"]) for v, r in zip(rate, series)],
                [float(r["high"]) - v for v, r in zip(rate, series)],
            ],
            color=color(method),
            ls="none",
            marker="o",
            ms=2.5,
            capsize=1.5,
            lw=0.8,
        )
        ax.plot(
            n,
            [fit["intercept"] + fit["slope"] * math.log2(v) for v in n],
            color=color(method),
            ls=style,
            lw=1,
            label=f"{label(method)}{what}: {fit['slope']:+.1f} pp per doubling",
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("unclamped in-context examples n")
    ax.set_ylabel("jailbroken queries (%)")
    where = {
        "uniform_x": "x ~ U[-1, 1]",
        "normal_x_ablation": "x ~ N(0, 1) (ablation: outside the training range)",
    }.get(condition, f"{condition.replace('_', ' ')} polynomials (the paper's setting), x ~ U[-1, 1]")
    ax.set_title(f"jailbreaking, T = {metrics['threshold']:g}, {where}", fontsize=7)
    ax.set_ylim(0, 100)
    ax.legend(frameon=False, fontsize=6, loc="lower right")
    fig.tight_layout()
    return fig


# the paper's jailbreak figure (degree 4, 100 polynomials x 200 queries; read off the authors' plot,
# approximate: one significant figure, log axes), n: percent jailbroken
PAPER_JAILBREAK_DEGREE_4 = {2: 0.0, 4: 0.036, 8: 1.15, 16: 1.58, 32: 1.82, 64: 1.56}
SETUP_COLOURS = ("#00798c", "#d1495b")  # ours (the aligned model's colour), the other setup


def _setup_label(name: str, result: dict) -> str:
    align = result["align"]
    return f"{name}: {align['clamped_context_fraction']:.0%} of contexts clamped, lr {align['train']['lr']:g}"


def jailbreak_setup_figure(metrics: dict, name: str) -> plt.Figure:
    """Ours and the setup ``name``, in the paper's jailbreak setting: the held-out rate (above T, and
    above T + margin) and median answer minus T against alignment steps, the rate at the longest
    context against the counting margin, and the rate against the context (the paper's figure)."""
    fig, axes = plt.subplots(2, 2, figsize=(7.2, 5.2))
    (steps_rate, steps_median), (by_margin, by_n) = axes
    margin, probe = metrics["margin"], metrics["probe"]
    longest = str(max(metrics["contexts"]))
    for setup, colour in zip(("ours", name), SETUP_COLOURS):
        result = metrics[setup]
        text = _setup_label(setup, result)
        run = result["progress"]
        steps_rate.plot(run["step"], run["jailbroken"], color=colour, lw=1)
        steps_rate.plot(run["step"], run["jailbroken_margin"], color=colour, ls="--", lw=1)
        steps_median.plot(run["step"], run["median_excess"], color=colour, label=text)
        margins = sorted(result["rate_by_margin"], key=float)  # in order, also when read back from JSON
        by_margin.plot(
            [float(m) for m in margins],
            [result["rate_by_margin"][m] for m in margins],
            color=colour,
            marker="o",
            ms=2,
            label=text,
        )
        n = sorted(int(k) for k in result["at_n"])
        for rule, style in (("jailbroken", "-"), ("jailbroken_margin", "--")):
            rates = [result["at_n"][str(k)][rule] for k in n]
            by_n.errorbar(
                n,
                [r["rate"] for r in rates],
                yerr=[[r["rate"] - r["low"] for r in rates], [r["high"] - r["rate"] for r in rates]],
                color=colour,
                ls=style,
                marker="o",
                ms=2.5,
                capsize=1.5,
                lw=1,
            )
    paper = [k for k in PAPER_JAILBREAK_DEGREE_4 if k in metrics["contexts"]]
    by_n.plot(paper, [PAPER_JAILBREAK_DEGREE_4[k] for k in paper], "kx", ms=4, label="the paper (approximate)")
    at = f"n = {probe['context']}, {probe['queries']:,} held-out queries)\n(solid: > T; dashed: > T + {margin:g}"
    steps_rate.set(xlabel="alignment steps", ylabel="jailbroken (%)", ylim=(0, 100), title=f"along the run ({at})")
    steps_median.axhline(0, color="0.6", lw=0.6)
    steps_median.set(xlabel="alignment steps", ylabel="median answer - T", title="the median answer along the run")
    by_margin.axvline(0, color="0.6", lw=0.6)
    by_margin.set(xlabel="counting margin m (jailbroken: answer > T + m)", ylabel="jailbroken (%)", ylim=(0, 100))
    by_margin.set_title(f"the counting rule, n = {longest}, {metrics['queries']:,} queries")
    by_n.set_xscale("log", base=2)
    by_n.set(xlabel="unclamped in-context examples n", ylabel="jailbroken (%)", ylim=(0, 100))
    by_n.set_title(f"degree {metrics['degree']}, T = {metrics['threshold']:g} (solid: > T; dashed: > T + {margin:g})")
    steps_median.legend(frameon=False, fontsize=5.5)  # the setups' colours, for every panel
    by_margin.legend(frameon=False, fontsize=5.5, loc="lower left")
    by_n.legend(frameon=False, fontsize=5.5)
    fig.tight_layout()
    return fig
