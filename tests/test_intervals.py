"""Intervals from chunk means (polyground.intervals) and the three verdicts they decide (claims.decide)."""

from __future__ import annotations

import math

import pytest
import torch

from polyground.claims import decide
from polyground.config import IntervalsConfig
from polyground.intervals import Book, bootstrap, chunk_means, estimate, headline_chunks, median, replay

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
    book = Book(CONFIG)
    book.values = {"a": {"mse@1": chunk_means(a, 100)}, "b": {"mse@1": chunk_means(b, 100)}}
    values = book.paired((), "a", "b", "difference")
    low, high = book.intervals["a_minus_b.mse@1"]
    assert low <= values["mse@1"] <= high < 0  # b = a + something positive, always
    book.means()
    a_low, a_high = book.intervals["a.mse@1"]
    b_low, b_high = book.intervals["b.mse@1"]
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


def test_a_book_replays_its_intervals_and_an_altered_chunk_mean_changes_them():
    book = Book(CONFIG)
    book.values = {
        "view": {
            name: headline_chunks(heavy_tailed(seed)[:, None].expand(-1, 2), [1], 100)
            for seed, name in ((6, "a"), (7, "b"))
        }
    }
    book.means("view")
    book.paired(("view",), "a", "b", "ratio")
    stored = {"values": book.values, "book": book.recipes}
    assert replay(stored, CONFIG) == {k: v for k, v in book.intervals.items() if k != "level"}
    assert set(book.recipes) == {"view.a.mse@1", "view.b.mse@1", "view.a_over_b.mse@1"}
    stored["values"]["view"]["b"]["mse@1"][17] *= 50
    changed = replay(stored, CONFIG)
    assert changed["view.a.mse@1"] == book.intervals["view.a.mse@1"]  # b's chunk feeds only b and a / b
    assert changed["view.b.mse@1"] != book.intervals["view.b.mse@1"]
    assert changed["view.a_over_b.mse@1"] != book.intervals["view.a_over_b.mse@1"]
