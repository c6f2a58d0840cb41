"""Figure style shared by every figure: one colour (and marker) and label per method, paper-sized axes,
legends outside the data and the paper's values marked the same way everywhere."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

from . import methods

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402

MODELS = {
    # name: (label, colour, marker); with the fine-tuning methods' (polyground.methods), what every figure
    # uses, so that a model or method looks the same everywhere
    "model": ("Transformer", "#1f4e9c", None),
    "pretrained": ("Pretrained", "#1f4e9c", None),
    "least_squares": ("Least squares", "#d1495b", None),
    "ridge": ("Ridge", "#edae49", None),
    "zero": ("Zero predictor", "#7f7f7f", None),
    "aligned": ("Aligned", "#00798c", None),
    "paper_size": ("Paper size", "#1f4e9c", None),
    "tiny": ("Tiny", "#9ecae1", None),
    "small": ("Small", "#4a90c8", None),
    "snapshot": ("Pretrained, step 10,000", "#e07a1f", None),
    "soft_prompt_best": ("Soft prompt (best learning rate)", "#e7298a", "D"),  # the sweep's best-rate prompt
}

# the paper's values, read off its figures: a black-edged cross on top of every curve
PAPER = {"marker": "X", "ms": 6, "mec": "black", "mew": 0.8, "ls": "none", "zorder": 5, "clip_on": False}
PAPER_LABEL = "paper (approx.)"

STYLE = {
    "figure.figsize": (3.4, 2.5),
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.3,
    "savefig.bbox": "tight",
}


def _entry(method: str) -> tuple[str, str, str | None]:
    if method in MODELS:
        return MODELS[method]
    return (methods.label(method), *methods.look(method))


def label(method: str) -> str:
    return _entry(method)[0]


def color(method: str) -> str:
    return _entry(method)[1]


def style(method: str) -> dict:
    """The plot keywords of a model or method: its colour, and its marker where it has one."""
    _, colour, marker = _entry(method)
    return {"color": colour} | ({"marker": marker, "ms": 3, "markevery": 0.1} if marker else {})


def plot_curve(
    ax: plt.Axes, curve: dict[str, list[float]], method: str, points: int, floor: float = 1e-4, **kwargs
) -> None:
    """Mean squared error vs in-context examples with its confidence band, on a log axis.

    A normal-approximation band can reach below 0 for heavy-tailed errors (least squares near
    interpolation); its lower edge is drawn at ``floor``, the bottom of the axis.
    """
    x = range(points)
    low = [max(v, floor) for v in curve["low"][:points]]
    ax.plot(x, curve["mean"][:points], label=kwargs.pop("label", label(method)), **(style(method) | kwargs))
    ax.fill_between(x, low, curve["high"][:points], color=color(method), alpha=0.2, lw=0)
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor)


def mark_paper(ax: plt.Axes, values: dict[float, float], colour: str = "black", text: str = PAPER_LABEL) -> Line2D:
    """The paper's values (x: value), approximate readings of its figures, drawn above every curve."""
    (line,) = ax.plot(list(values), list(values.values()), color=colour, label=text, **PAPER)
    return line


def key(**kwargs) -> Line2D:
    """A legend handle for a style shared by several curves (a colour, a line style, a marker)."""
    return Line2D([], [], **({"color": "black"} | kwargs))


def within(values, low: float, high: float) -> np.ndarray:
    """``values`` where they lie in [low, high], NaN (not drawn) elsewhere: a fitted curve shown only
    where its quantity is defined (a percentage in [0, 100], a positive error on a log axis)."""
    values = np.asarray(values, float)
    return np.where((values >= low) & (values <= high), values, np.nan)


def legend_entries(*axes: plt.Axes) -> dict:
    """Every labelled curve of the axes, label: handle, each label once (in the order first drawn)."""
    return {text: h for ax in axes for h, text in zip(*ax.get_legend_handles_labels())}


def figure_legend(fig: plt.Figure, entries: dict | None = None, ncol: int = 3, **kwargs) -> None:
    """One legend for the whole figure, below its axes (``layout="constrained"`` makes the room): the
    ``entries`` (label: handle, or a tuple of handles drawn over each other), by default those of every
    axes (:func:`legend_entries`)."""
    entries = legend_entries(*fig.axes) if entries is None else entries
    fig.legend(list(entries.values()), list(entries), loc="outside lower center", ncol=ncol, frameon=False, **kwargs)


def legend_below(ax: plt.Axes, **kwargs) -> None:
    """The axes' own legend under its x-axis label, outside the data (for panels with legends of their own)."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    depth = (ax.get_window_extent(renderer).y0 - ax.xaxis.get_tightbbox(renderer).y0) * 72 / fig.dpi
    below = offset_copy(ax.transAxes, fig=fig, y=-depth - 2, units="points")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0), bbox_transform=below, frameon=False, **kwargs)


def save(fig: plt.Figure, stem: str | Path, dpi: int) -> None:
    """Write ``stem``.png and ``stem``.pdf, with no timestamps so reruns are byte-identical."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(stem.with_suffix(".png"), dpi=dpi, metadata={"Software": None})
    fig.savefig(stem.with_suffix(".pdf"), metadata={"CreationDate": None, "Producer": None, "Creator": None})
    plt.close(fig)
