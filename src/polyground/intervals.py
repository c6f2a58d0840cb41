"""Intervals of the quantities the claims read: bootstrap over fixed chunks of an evaluation set.

An evaluation stage splits its seeded set of sequences into ``intervals.chunks`` equal, contiguous
chunks and keeps each chunk's mean (:func:`chunk_means`); the mean over the set is the mean of the
chunk means. A percentile bootstrap that resamples chunks (``scipy.stats.bootstrap``, a seeded
generator) gives the interval of a mean, of a paired difference or ratio of two methods on the same
sequences (the same resampled chunks for both), from the stored chunk means alone, so that the
claims and an audit recompute every interval without the models. A view of the sequences (the
paper's queries above T) keeps each chunk's mean over the view and its count. Medians get
distribution-free intervals from order statistics.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

from .config import IntervalsConfig
from .files import write_json
from .paths import chunks_path, metrics_json

Sample = list[float] | dict[str, list[float]]  # chunk means, or {"mean", "count"} of a masked view
COMBINE = {"mean": lambda a: a, "difference": lambda a, b: a - b, "ratio": lambda a, b: a / b}


def chunk_means(values: torch.Tensor, chunks: int) -> list[float]:
    """The means of ``values`` (one per sequence) over ``chunks`` equal contiguous chunks (8 significant
    digits: the stored values, from which every interval is computed)."""
    if len(values) % chunks:
        raise ValueError(f"{len(values)} sequences do not split into {chunks} equal chunks")
    return [float(f"{m:.8g}") for m in values.double().reshape(chunks, -1).mean(1).tolist()]


def _statistic(kind: str, samples: list[Sample]):
    """The arrays of ``samples`` and ``kind`` of their means as a function of them (vectorised over a
    last axis of resamples, as ``scipy.stats.bootstrap`` calls it): the mean over a masked view's
    sequences is its chunks' means weighted by their counts."""
    arrays, widths = [], []
    for sample in samples:
        parts = [sample["mean"], sample["count"]] if isinstance(sample, dict) else [sample]
        arrays += [np.asarray(p, dtype=float) for p in parts]
        widths.append(len(parts))

    def statistic(*data: np.ndarray, axis: int = -1) -> np.ndarray:
        means, i = [], 0
        for width in widths:
            means.append(
                (data[i] * data[i + 1]).sum(axis) / data[i + 1].sum(axis) if width == 2 else data[i].mean(axis)
            )
            i += width
        return COMBINE[kind](*means)

    return arrays, statistic


def estimate(kind: str, samples: list[Sample]) -> float:
    """``kind`` (``mean`` of one sample, ``difference`` or ``ratio`` of two) of the samples' means."""
    arrays, statistic = _statistic(kind, samples)
    return float(statistic(*arrays))


def bootstrap(kind: str, samples: list[Sample], config: IntervalsConfig) -> list[float]:
    """The ``config.level`` percentile-bootstrap interval [low, high] of :func:`estimate`, resampling
    chunks (the same chunks for every sample: paired, as two methods on the same sequences)."""
    arrays, statistic = _statistic(kind, samples)
    result = stats.bootstrap(
        tuple(arrays),
        statistic,
        paired=len(arrays) > 1,
        vectorized=True,
        n_resamples=config.resamples,
        confidence_level=config.level,
        method="percentile",
        rng=np.random.default_rng(config.seed),
    )
    return [round(float(result.confidence_interval.low), 6), round(float(result.confidence_interval.high), 6)]


def median(values: torch.Tensor, level: float) -> tuple[float, list[float]]:
    """The median of ``values`` (one per sequence) and its distribution-free interval (order statistics,
    ``scipy.stats.quantile_test``): a robust statistic beside a mean of heavy-tailed errors."""
    array = values.double().numpy()
    interval = stats.quantile_test(array, q=float(np.median(array)), p=0.5).confidence_interval(level)
    return round(float(np.median(array)), 8), [float(f"{interval.low:.6g}"), float(f"{interval.high:.6g}")]


def masked_chunk_means(values: torch.Tensor, mask: torch.Tensor, chunks: int) -> dict[str, list[float]]:
    """Per chunk, the mean of ``values`` where ``mask`` holds and how many there are (a view of the
    sequences, as the paper's queries above T): the samples of a ``weighted`` interval."""
    counts = mask.reshape(chunks, -1).sum(1)
    sums = (values.double() * mask).reshape(chunks, -1).sum(1)
    means = torch.where(counts > 0, sums / counts.clamp(min=1), torch.zeros_like(sums))
    return {"mean": [float(f"{m:.8g}") for m in means.tolist()], "count": counts.tolist()}


def headline_chunks(
    errors: torch.Tensor, examples: list[int], chunks: int, mask: torch.Tensor | None = None
) -> dict[str, list[float] | dict[str, list[float]]]:
    """Per headline position ``mse@N``: the chunk means of the (sequences, points) squared errors (with
    ``mask``, of those where it holds, with their counts: :func:`masked_chunk_means`)."""
    if mask is None:
        return {f"mse@{n}": chunk_means(errors[:, n], chunks) for n in examples}
    return {f"mse@{n}": masked_chunk_means(errors[:, n], mask[:, n], chunks) for n in examples}


Where = tuple[str, ...]  # where a sample sits in a stage's stored chunk means: (group, ..., method, mse@N)


def at(values: dict, path: Where) -> Sample:
    """The sample at ``path`` in nested chunk means."""
    for key in path:
        values = values[key]
    return values


class Book:
    """An evaluation stage's chunk means and, for each interval it reports, how it follows from them.

    The stage puts its chunk means under :attr:`values` (nested by view and method) and asks the book
    for every interval by the paths of its samples; the book computes it (:func:`bootstrap`) and
    records the recipe, so that :func:`replay` recomputes every interval from the stored file alone
    (the audit: a stored chunk mean that was altered changes an interval it feeds)."""

    def __init__(self, config: IntervalsConfig):
        self.config, self.values, self.recipes = config, {}, {}
        self.intervals: dict[str, float | list[float]] = {"level": config.level}

    def sample(self, path: Where) -> Sample:
        return at(self.values, path)

    def interval(self, name: str, kind: str, *paths: Where) -> list[float]:
        """The interval of ``kind`` of the samples at ``paths``, reported as ``name``."""
        self.recipes[name] = {"kind": kind, "samples": [list(path) for path in paths]}
        self.intervals[name] = bootstrap(kind, [self.sample(path) for path in paths], self.config)
        return self.intervals[name]

    def means(self, *group: str) -> None:
        """``GROUP.METHOD.mse@N``: the interval of each method's mean under ``group`` at each position."""
        for method, by_key in self.sample(group).items():
            for key in by_key:
                self.interval(".".join((*group, method, key)), "mean", (*group, method, key))

    def paired(self, group: Where, a: str, b: str, kind: str, keys=None, name: str | None = None) -> dict[str, float]:
        """``a`` minus (``difference``) or over (``ratio``) ``b`` on the same sequences at each headline
        position (or those of ``keys``), its intervals reported as ``GROUP.NAME.mse@N`` (``NAME``:
        ``A_minus_B`` / ``A_over_B`` unless given); returns the values."""
        name = name or f"{a}_{'minus' if kind == 'difference' else 'over'}_{b}"
        values = {}
        for key in keys or self.sample((*group, a)):
            paths = ((*group, a, key), (*group, b, key))
            values[key] = round(estimate(kind, [self.sample(path) for path in paths]), 6)
            self.interval(".".join((*group, name, key)), kind, *paths)
        return values

    def write(self, path) -> None:
        """The stored chunk means with the recipe of every interval (what :func:`replay` reads)."""
        write_json(path, {"chunks": self.config.chunks, "values": self.values, "book": self.recipes})

    def publish(self, metrics: dict, stage: str) -> None:
        """A stage's ``metrics`` with every interval it reports, and its chunk means beside them."""
        metrics["intervals"] = self.intervals
        self.write(chunks_path(stage))
        write_json(metrics_json(stage), metrics)


def replay(stored: dict, config: IntervalsConfig) -> dict[str, list[float]]:
    """Every interval of a stored :class:`Book` recomputed from its chunk means alone."""
    book = Book(config)
    book.values = stored["values"]
    for name, recipe in stored["book"].items():
        book.interval(name, recipe["kind"], *(tuple(path) for path in recipe["samples"]))
    return {name: bounds for name, bounds in book.intervals.items() if name != "level"}


def rate_interval(successes: int, trials: int, confidence: float) -> dict[str, float]:
    """Rate in percent with its Wilson score interval."""
    interval = stats.binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    return {"rate": 100 * successes / trials, "low": 100 * interval.low, "high": 100 * interval.high}


def chunk_rows(sequences: int, chunks: int, indices: list[int]) -> torch.Tensor:
    """The rows (sequences) of chunks ``indices`` of a set of ``sequences`` split into ``chunks``, in order:
    measured alone, they give those chunks' means (``len(indices)`` chunks of the same size)."""
    size = sequences // chunks
    return torch.cat([torch.arange(i * size, (i + 1) * size) for i in indices])


def collect(metrics: dict, path: tuple[str, ...] = ()) -> dict[str, list[float]]:
    """Every ``KEY_interval`` inside ``metrics`` (written beside its ``KEY`` where it was computed, as
    :func:`polyground.fits.compare` does) moved to ``DOTTED.PATH.KEY``: the ``intervals`` the claims read."""
    found = {}
    for key in list(metrics):
        if key.endswith("_interval"):
            found[".".join((*path, key.removesuffix("_interval")))] = metrics.pop(key)
        elif isinstance(metrics[key], dict) and key != "intervals":
            found |= collect(metrics[key], (*path, key))
    return found
