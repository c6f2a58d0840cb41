"""Figure style shared by every figure: one colour and label per method, paper-sized axes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

METHODS = {
    # name: (label, colour); every figure uses these so a method looks the same everywhere
    "model": ("Transformer", "#1f4e9c"),
    "pretrained": ("Pretrained", "#1f4e9c"),
    "least_squares": ("Least squares", "#d1495b"),
    "ridge": ("Ridge", "#edae49"),
    "zero": ("Zero predictor", "#7f7f7f"),
    "aligned": ("Aligned", "#00798c"),
    "paper_size": ("Paper size", "#1f4e9c"),
    "tiny": ("Tiny", "#9ecae1"),
    "small": ("Small", "#4a90c8"),
    "snapshot": ("Pretrained, step 10,000", "#e07a1f"),
    "lora": ("LoRA", "#2e933c"),
    "soft_prompt_2": ("Soft prompt (2 pairs)", "#8e6c8a"),
    "soft_prompt_50": ("Soft prompt (50 pairs)", "#b07bac"),
    "full_finetune": ("Full fine-tuning", "#3d3d3d"),
}

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


def label(method: str) -> str:
    return METHODS[method][0]


def color(method: str) -> str:
    return METHODS[method][1]


def plot_curve(
    ax: plt.Axes, curve: dict[str, list[float]], method: str, points: int, floor: float = 1e-4, **kwargs
) -> None:
    """Mean squared error vs in-context examples with its confidence band, on a log axis.

    A normal-approximation band can reach below 0 for heavy-tailed errors (least squares near
    interpolation); its lower edge is drawn at ``floor``, the bottom of the axis.
    """
    x = range(points)
    low = [max(v, floor) for v in curve["low"][:points]]
    ax.plot(x, curve["mean"][:points], color=color(method), label=kwargs.pop("label", label(method)), **kwargs)
    ax.fill_between(x, low, curve["high"][:points], color=color(method), alpha=0.2, lw=0)
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor)


def save(fig: plt.Figure, stem: str | Path, dpi: int) -> None:
    """Write ``stem``.png and ``stem``.pdf, with no timestamps so reruns are byte-identical."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(stem.with_suffix(".png"), dpi=dpi, metadata={"Software": None})
    fig.savefig(stem.with_suffix(".pdf"), metadata={"CreationDate": None, "Producer": None, "Creator": None})
    plt.close(fig)
