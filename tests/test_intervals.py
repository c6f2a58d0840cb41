"""Intervals from chunk means (polyground.intervals) and the three verdicts they decide (claims.decide)."""

from __future__ import annotations

import math

import pytest
import torch

from polyground.claims import decide
from polyground.config import IntervalsConfig
from polyground.intervals import bootstrap, chunk_means, estimate, headline_chunks, median, paired

CONFIG = IntervalsConfig(resamples=2000)


def heavy_tailed(seed: int, n: int = 2000) -> torch.Tensor:
    return torch.randn(n, generator=torch.Generator().manual_seed(seed)).double().exp() ** 2


def test_the_mean_of_chunk_means_is_the_mean_and_its_interval_covers_it():
    values = heavy_tailed(0)
    chunks = chunk_means(values, 100)
    assert math.isclose(estimate("mean", [chunks]), float(values.mean()), rel_tol=1e-6)
    low, high = bootstrap("mean", [chunks], CONFIG)
    assert low < float(values.mean()) < high
    assert bootstrap("mean", [chunks], CONFIG) == [low, high]  # seeded: the same interval again


def test_unequal_chunks_are_refused():
    with pytest.raises(ValueError, match="equal chunks"):
        chunk_means(torch.ones(101), 10)


def test_a_paired_difference_is_narrower_than_the_unpaired_one():
    """Two methods on the same sequences: resampling the same chunks for both cancels the shared noise."""
    a = heavy_tailed(1)
    b = a + 0.01 * heavy_tailed(2)
    chunked = {"a": {"mse@1": chunk_means(a, 100)}, "b": {"mse@1": chunk_means(b, 100)}}
    name, values, intervals = paired(chunked, "a", "b", "difference", CONFIG)
    low, high = intervals["a_minus_b.mse@1"]
    assert name == "a_minus_b" and low <= values["mse@1"] <= high < 0  # b = a + something positive, always
    a_low, a_high = bootstrap("mean", [chunked["a"]["mse@1"]], CONFIG)
    b_low, b_high = bootstrap("mean", [chunked["b"]["mse@1"]], CONFIG)
    assert high - low < (a_high - a_low) / 10 and a_high > b_low  # unpaired, the two intervals overlap


def test_a_masked_view_is_the_mean_over_its_sequences():
    errors = heavy_tailed(3, 1000)[:, None].expand(-1, 3).contiguous()
    mask = torch.rand(1000, 3, generator=torch.Generator().manual_seed(4)) < 0.3
    chunks = headline_chunks(errors, [1], 10, mask)["mse@1"]
    assert sum(chunks["count"]) == int(mask[:, 1].sum())
    assert math.isclose(estimate("mean", [chunks]), float(errors[mask[:, 1], 1].mean()), rel_tol=1e-6)
    low, high = bootstrap("mean", [chunks], CONFIG)
    assert low < estimate("mean", [chunks]) < high


def test_the_median_and_its_interval():
    values = heavy_tailed(5)
    found, (low, high) = median(values, 0.99)
    assert math.isclose(found, float(values.median()), rel_tol=1e-2) and low < found < high


@pytest.mark.parametrize(
    "bounds, expected",
    [
        ([(0.1, 0.2), (0.3, 0.3)], "REPRODUCED"),  # holds over the whole interval
        ([(0.4, 0.5), (0.3, 0.3)], "NOT REPRODUCED"),  # fails over the whole interval
        ([(0.2, 0.4), (0.3, 0.3)], "INCONCLUSIVE"),  # the interval straddles the threshold
        ([(0.1, 0.2), (0.25, 0.35), (0.3, 0.3)], "INCONCLUSIVE"),  # one link of a chain undecided
        ([(0.1, 0.2), (0.4, 0.5), (0.3, 0.3)], "NOT REPRODUCED"),  # one link fails throughout
    ],
)
def test_three_verdicts_from_intervals(bounds, expected):
    assert decide(bounds, "paper") == expected


def test_a_finding_has_its_own_words():
    assert [decide(b, "finding") for b in ([(0, 1), (2, 2)], [(3, 4), (2, 2)], [(1, 3), (2, 2)])] == [
        "HOLDS",
        "DOES NOT HOLD",
        "INCONCLUSIVE",
    ]


def test_the_committed_intervals_are_recomputed_from_the_stored_chunk_means():
    """Every mean's interval in the metrics of pretrain and clamping follows from metrics/chunks alone."""
    import json

    from conftest import ROOT
    from polyground.config import load_params
    from polyground.intervals import mean_intervals

    config = load_params(ROOT / "params.yaml").intervals
    checked = 0
    for stage in ("pretrain", "clamping"):
        stored = json.loads((ROOT / f"metrics/{stage}.json").read_text())["intervals"]
        for view, chunked in json.loads((ROOT / f"metrics/chunks/{stage}.json").read_text())["values"].items():
            prefix = "" if stage == "pretrain" else f"{view}."
            methods = {view: chunked} if stage == "pretrain" else chunked
            for key, bounds in mean_intervals(methods, config).items():
                assert stored[prefix + key] == bounds, prefix + key
                checked += 1
    assert checked > 100
