"""Figures of the alignment half (model size, the aligned model, jailbreaking), from the metrics
written by ``evaluate_model_sizes``, ``evaluate_align`` and ``jailbreak``."""

from __future__ import annotations

import csv
import json

import matplotlib.pyplot as plt
import numpy as np

from .evaluate import read_curves
from .paths import CLAMPED_REGRESSION, DEFENDER, metrics_csv, metrics_json
from .plotting import PAPER_LABEL, color, figure_legend, key, label, legend_entries, mark_paper, plot_curve, within
from .readings import reading
from .threshold import ABOVE, CLAMPED

SETUP_COLOURS = ("#00798c", "#d1495b")  # ours (the aligned model's colour), the other setup


def model_sizes_figure(params) -> plt.Figure:
    """Behavior I at one degree for every model size, with least squares and the zero predictor: over every
    query (left) and over the queries above T (right: the paper's view, with its readings)."""
    metrics = json.loads(metrics_json("model_sizes").read_text())
    sizes = sorted(
        (m for m in metrics if isinstance(metrics[m], dict) and "parameters" in metrics[m]),
        key=lambda m: metrics[m]["parameters"],
    )
    fig, axes = plt.subplots(1, 2, figsize=(7.0, 3.1), layout="constrained", sharey=True)
    views = (
        ("every query", metrics_csv("model_sizes")),
        (f"{ABOVE} (the paper's view)", metrics_csv("model_sizes_above")),
    )
    for ax, (view, path) in zip(axes, views):
        curves = read_curves(path)
        points = len(curves["zero"]["mean"])
        for name in sizes:
            size = metrics[name]["model"]
            method = "pretrained" if name == "pretrain" else name
            text = f"{size['n_embd']}/{size['n_layer']}/{size['n_head']}, {metrics[name]['parameters'] / 1e6:.2f}M"
            plot_curve(
                ax,
                curves[name],
                method,
                points,
                label=f"{'Paper size' if name == 'pretrain' else label(name)} ({text})",
            )
        plot_curve(
            ax, curves["least_squares"], "least_squares", points, label=f"Least squares (degree {metrics['degree']})"
        )
        plot_curve(ax, curves["zero"], "zero", points)
        ax.set_ylim(top=1e2)
        ax.set_xlabel("clamped in-context examples")
        ax.set_title(f"{view}, degree {metrics['degree']}", fontsize=8)
    axes[0].set_ylabel(f"squared error vs {CLAMPED}")
    entries = legend_entries(axes[0])
    paper = reading("model_sizes")
    for name, curve in (("small", paper["small"]), ("pretrain", paper["large"])):
        method = "pretrained" if name == "pretrain" else name
        entries[f"{PAPER_LABEL}: {'the larger models' if name == 'pretrain' else label(name)}"] = mark_paper(
            axes[1], curve, color(method), text="_paper"
        )
    fig.suptitle(f"model size, clamp T = {metrics['threshold']:g}", fontsize=9)
    figure_legend(fig, entries, ncol=3, fontsize=6, title="model (width/layers/heads, parameters)", title_fontsize=6)
    return fig


def aligned_model_figure(params) -> plt.Figure:
    """Left: clamped regression (clamped context, every query), with the paper's readings. Right: the
    defender view."""
    regression = read_curves(CLAMPED_REGRESSION)
    defender = read_curves(DEFENDER)
    degree, threshold = params.evaluate_align.degree, params.align.threshold
    points = len(regression["zero"]["mean"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 3.1), layout="constrained")
    plot_curve(left, regression["aligned"], "aligned", points, label="Aligned (fine-tuned on clamped data)")
    plot_curve(left, regression["pretrained"], "pretrained", points)
    plot_curve(left, regression["least_squares"], "least_squares", points, label=f"Least squares (degree {degree})")
    plot_curve(left, regression["zero"], "zero", points, label="Zero predictor (right: its error T²)")
    paper = mark_paper(left, reading("aligned.transformer"), text="_paper")
    left.set_title(f"clamped regression, degree {degree}, clamp T = {threshold:g}")
    left.set_xlabel("clamped in-context examples")
    left.set_ylabel(f"squared error vs {CLAMPED}")
    for name, method, style in (
        ("aligned_clamped_context", "aligned", "-"),
        ("aligned_unclamped_context", "aligned", "--"),
        ("pretrained_clamped_context", "pretrained", "-"),
        ("pretrained_unclamped_context", "pretrained", "--"),
    ):
        plot_curve(right, defender[name], method, points, ls=style, label=None)
    right.axhline(threshold**2, color=color("zero"))
    right.set_title(f"defender view: {ABOVE}, target T")
    right.set_xlabel("in-context examples")
    right.set_ylabel("squared error vs T")
    for ax in (left, right):
        ax.set_ylim(top=1e2)
    entries = legend_entries(left)
    entries |= {text: key(ls=style) for text, style in (("clamped context", "-"), ("unclamped context", "--"))}
    entries[f"{PAPER_LABEL}: aligned"] = paper
    figure_legend(fig, entries, ncol=4, fontsize=6)
    return fig


def _jailbreak_series(ax: plt.Axes, series: list[dict], fit: dict, method: str, margin: bool) -> tuple:
    """One rate with its intervals (open markers: the margin rule) and its line in log2 n, drawn only
    between 0 and 100 %; returns their handles, for one legend entry."""
    n = [int(r["n"]) for r in series]
    rate = [float(r["rate"]) for r in series]
    points = ax.errorbar(
        n,
        rate,
        yerr=[
            [v - float(r["low"]) for v, r in zip(rate, series)],
            [float(r["high"]) - v for v, r in zip(rate, series)],
        ],
        color=color(method),
        mfc="white" if margin else color(method),
        ls="none",
        marker="o",
        ms=3,
        capsize=1.5,
        lw=0.8,
    )
    grid = np.geomspace(min(n), max(n), 101)
    fitted = within(fit["intercept"] + fit["slope"] * np.log2(grid), 0, 100)
    (line,) = ax.plot(grid, fitted, color=color(method), ls="--" if margin else "-", lw=1)
    return points, line


def _paper_jailbreak(contexts: list[int]) -> dict[int, float]:
    """The paper's jailbroken share (degree 4) at the context lengths this artifact measures."""
    return {n: rate for n, rate in reading("jailbreak_degree_4.aligned").items() if n in contexts}


def jailbreak_figure(params, condition: str) -> plt.Figure:
    """Jailbreak rate vs context length (log2 axis) with Wilson bands and the log2 line, and the paper's
    readings in its setting (degree-4 polynomials, x ~ U[-1, 1])."""
    metrics = json.loads(metrics_json("jailbreak").read_text())
    with open(metrics_csv("jailbreak"), newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["condition"] == condition]
    fig, ax = plt.subplots(figsize=(3.6, 3.5), layout="constrained")
    entries = {}
    for rule, method in (
        ("jailbroken", "aligned"),
        ("jailbroken_margin", "aligned"),
        ("jailbroken", "pretrained"),
    ):
        series = [r for r in rows if r["method"] == f"{method}.{rule}"]
        if not series:  # the ablation has no base-model reference
            continue
        fit = metrics[condition][method][rule]["log2_fit"]
        margin = rule == "jailbroken_margin"
        answer = f"> T + {metrics['margin']:g}" if margin else "> T"
        entries[f"{label(method)}, {answer}: {fit['slope']:+.1f} pp"] = _jailbreak_series(
            ax, series, fit, method, margin
        )
    if condition != "normal_x_ablation":  # the paper's jailbreak setting draws x ~ U[-1, 1]
        text = f"{PAPER_LABEL}: degree 4, > T"
        entries[text] = mark_paper(ax, _paper_jailbreak(metrics["contexts"]), text=text)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("unclamped in-context examples n")
    ax.set_ylabel("jailbroken queries (%)")
    where = {
        "uniform_x": "x ~ U[-1, 1]",
        "normal_x_ablation": "x ~ N(0, 1) (ablation: outside the training range)",
    }.get(condition, f"{condition.replace('_', ' ')} polynomials (the paper's setting), x ~ U[-1, 1]")
    ax.set_title(f"jailbreaking, clamp T = {metrics['threshold']:g},\n{where}", fontsize=7)
    ax.set_ylim(0, 100)
    figure_legend(
        fig,
        entries,
        ncol=2,
        fontsize=6,
        title="jailbroken: answer > T; lines: fits in log2 n,\nslope in percentage points (pp) per doubling of n",
        title_fontsize=6,
    )
    return fig


def _setup_label(name: str, result: dict) -> str:
    align = result["align"]
    return f"{name}: {align['clamped_context_fraction']:.0%} of contexts clamped, lr {align['train']['lr']:g}"


def jailbreak_setup_figure(metrics: dict, name: str) -> plt.Figure:
    """Ours and the setup ``name``, in the paper's jailbreak setting: the held-out rate (above T, and
    above T + margin) and median answer minus T against alignment steps, the rate at the longest
    context against the counting margin, and the rate against the context (the paper's figure, with
    its readings on top)."""
    fig, axes = plt.subplots(2, 2, figsize=(7.2, 5.6), layout="constrained")
    (steps_rate, steps_median), (by_margin, by_n) = axes
    margin, probe = metrics["margin"], metrics["probe"]
    longest = str(max(metrics["contexts"]))
    entries = {}
    for setup, colour in zip(("ours", name), SETUP_COLOURS):
        result = metrics[setup]
        entries[_setup_label(setup, result)] = key(color=colour)
        run = result["progress"]
        steps_rate.plot(run["step"], run["jailbroken"], color=colour, lw=1)
        steps_rate.plot(run["step"], run["jailbroken_margin"], color=colour, ls="--", lw=1)
        steps_median.plot(run["step"], run["median_excess"], color=colour)
        margins = sorted(result["rate_by_margin"], key=float)  # in order, also when read back from JSON
        by_margin.plot(
            [float(m) for m in margins],
            [result["rate_by_margin"][m] for m in margins],
            color=colour,
            marker="o",
            ms=2,
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
    paper = _paper_jailbreak(metrics["contexts"])
    rules = {"solid: answer > T": "-", f"dashed: answer > T + {margin:g}": "--"}
    entries |= {text: key(ls=style) for text, style in rules.items()}
    entries[f"{PAPER_LABEL}: answer > T"] = mark_paper(by_n, paper, text=f"{PAPER_LABEL}: answer > T")
    at = f"n = {probe['context']}, {probe['queries']:,} held-out queries"
    steps_rate.set(xlabel="alignment steps", ylabel="jailbroken (%)", ylim=(0, 100), title=f"along the run ({at})")
    steps_median.axhline(0, color="0.6", lw=0.6)
    steps_median.set(xlabel="alignment steps", ylabel="median answer - T", title="the median answer along the run")
    by_margin.axvline(0, color="0.6", lw=0.6)
    by_margin.set(xlabel="counting margin m (jailbroken: answer > T + m)", ylabel="jailbroken (%)", ylim=(0, 100))
    by_margin.set_title(f"the counting rule, n = {longest}, {metrics['queries']:,} queries")
    by_n.set_xscale("log", base=2)
    by_n.set(xlabel="unclamped in-context examples n", ylabel="jailbroken (%)", ylim=(0, 100))
    by_n.set_title(f"degree {metrics['degree']}, clamp T = {metrics['threshold']:g}")
    figure_legend(fig, entries, ncol=3, fontsize=6.5)
    return fig
