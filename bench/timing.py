"""Timing helpers shared by the benchmarks: the median of repeated calls, and the machine's measured
fp32 matmul peak on the current thread count (the reference every "fraction of peak" is read against)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median wall seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def matmul_peak(size: int = 2048) -> float:
    """Measured fp32 FLOP/s of a large matmul on the set thread count (``torch.set_num_threads``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / median_seconds(lambda: a @ b, repeats=7)
