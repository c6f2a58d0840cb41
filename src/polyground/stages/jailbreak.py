"""Stage ``jailbreak``: Behavior II, the aligned model shown an unclamped ("malicious") context.

``jailbreak.queries`` independent sequences of the aligned model's class (``align.task``), each
with max(``jailbreak.contexts``) unclamped context pairs and a query whose true y is above T
(:func:`polyground.alignment.jailbreak_queries`); for each n of the contexts the query is
predicted after the sequence's first n pairs (nested contexts: the longest runs once, its keys and
values cached). Within one n the queries are independent; across n they share their polynomials
and queries (a paired design), so the rates of two n differ by the context alone. Jailbroken:
prediction > T; margin variant: prediction > T + margin. Rates in percent with Wilson intervals,
for the aligned model and, as the reference ceiling, the base model on the same queries; a
least-squares line in log2(n) with its slope interval; and the quartiles of the excess
prediction - T, beside those of the true excess y - T (how far above T a jailbroken answer goes).
Conditions: the aligned model's class (``align.task``) with x ~ U[-1, 1] (main); the ablation draws
x ~ N(0, 1) (training used U[-1, 1]), for the aligned model only: the authors' jailbreak cell draws
x uniform, but their other evaluation helper (``simpler_eval_batch``: the clamping, model-size,
aligned degree-2 and defender figures) draws N(0, 1); and the paper's setting, degree-``jailbreak.paper_degree``
polynomials (the paper's jailbreak figure), x ~ U[-1, 1]. Each condition has its own query stream.

Outputs ``metrics/jailbreak.json`` (rates, slopes, and under ``intervals`` every rate's Wilson interval
and every slope's, keyed by the metric's dotted key) and ``metrics/jailbreak.csv``.
"""

from __future__ import annotations

import time

import torch

from ..alignment import jailbreak_queries
from ..checkpoint import load_base_and_aligned
from ..config import as_dict, load_params
from ..evaluate import for_evaluation, nested_context_predictions
from ..files import write_json, write_rows
from ..fits import log2_fit
from ..intervals import rate_interval
from ..paths import metrics_csv, metrics_json
from ..tasks import ChebyshevTask, generator_for
from ..threshold import jailbroken
from . import run_stage

METRICS, TABLE = metrics_json("jailbreak"), metrics_csv("jailbreak")


def quartiles(values: torch.Tensor) -> dict[str, float]:
    """The 25th, 50th and 75th percentiles (keyed q25, q50, q75: numbers the report can name), rounded."""
    found = torch.quantile(values.double(), torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
    return {f"q{q}": round(float(v), 4) for q, v in zip((25, 50, 75), found)}


def main() -> None:
    params = load_params()
    config, threshold = params.jailbreak, params.align.threshold
    torch.set_num_threads(params.threads)
    base, base_meta, aligned, aligned_meta = load_base_and_aligned(params)
    base, aligned = for_evaluation(base), for_evaluation(aligned)
    began = time.perf_counter()
    task = ChebyshevTask(**as_dict(params.align.task))
    models = {"aligned": aligned, "pretrained": base}
    margins = {"jailbroken": 0.0, "jailbroken_margin": config.margin}  # the paper's rule, and our margin rule
    rows, metrics = (
        [],
        {
            "threshold": threshold,
            "margin": config.margin,
            "queries": config.queries,
            "contexts": config.contexts,
            "confidence": config.confidence,
        },
    )
    paper_task = ChebyshevTask(config.paper_degree, random_degree=False)
    conditions = {  # name: (task, x ~ N(0, 1), stream, models)
        "uniform_x": (task, False, 0, list(models)),
        "normal_x_ablation": (task, True, 1, ["aligned"]),
        f"degree_{config.paper_degree}": (paper_task, False, 2, list(models)),
    }
    intervals: dict[str, float | list[float]] = {"level": config.confidence}  # polyground.claims reads these
    for condition, (condition_task, normal_x, stream, names) in conditions.items():
        rates: dict[str, list[float]] = {}
        generator = generator_for(config.seed, "eval", stream)
        xs, ys = jailbreak_queries(condition_task, max(config.contexts), config.queries, threshold, generator, normal_x)
        excess = {"true": quartiles(ys[:, -1] - threshold)}
        for name in names:
            predicted = nested_context_predictions(models[name], xs, ys, config.contexts, config.batch_size)
            excess[name] = {str(n): quartiles(at_n - threshold) for n, at_n in zip(config.contexts, predicted)}
            for n, at_n in zip(config.contexts, predicted):
                for bar_name, margin in margins.items():
                    result = rate_interval(
                        int(jailbroken(at_n, threshold, margin).sum()), config.queries, config.confidence
                    )
                    key = f"{name}.{bar_name}"
                    rates.setdefault(key, []).append(result["rate"])
                    intervals[f"{condition}.{key}.rate.{n}"] = [round(result["low"], 4), round(result["high"], 4)]
                    rows.append(
                        {"condition": condition, "n": n, "method": key, **{k: f"{v:.4f}" for k, v in result.items()}}
                    )
        metrics[condition] = {"excess_quartiles": excess}
        for key, values in rates.items():
            name, bar_name = key.split(".")
            fit = {k: round(float(v), 4) for k, v in log2_fit(config.contexts, values, config.confidence).items()}
            metrics[condition].setdefault(name, {})[bar_name] = {
                "rate": dict(zip(map(str, config.contexts), (round(r, 4) for r in values))),
                "log2_fit": fit,
            }
            intervals[f"{condition}.{key}.log2_fit.slope"] = [fit["slope_low"], fit["slope_high"]]
    write_rows(TABLE, ["condition", "n", "method", "rate", "low", "high"], rows)
    metrics["checkpoint_sha256"] = {"pretrained": base_meta["sha256"], "aligned": aligned_meta["sha256"]}
    metrics["intervals"] = intervals
    write_json(METRICS, metrics)
    print(f"jailbreak: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    run_stage(main)
