"""Stage ``jailbreak_setup``: an aligned model of another setup (``align_setups``) jailbroken beside ours.

``python -m polyground.stages.jailbreak_setup NAME`` evaluates ``models/align`` (ours) and
``models/align_setups/NAME`` in the paper's jailbreak setting, on the queries of the ``jailbreak``
stage's paper condition (degree-``jailbreak.paper_degree`` polynomials, x ~ U[-1, 1], the same seed and
stream: ours reads exactly as there): for each n of ``jailbreak.contexts``, the rate of answers above T
and above T + ``jailbreak.margin`` (Wilson intervals) and the median answer minus T; at the longest
context, the rate above T + m for each m of ``jailbreak.margins`` (how far a small shift of the answers
moves the rate). Along each run, its held-out probe (``logs/align_progress.csv`` and the setup's:
``convergence.probe_queries`` queries, n = ``convergence.jailbreak_context``): the rate and the median
against alignment steps. Outputs ``metrics/jailbreak_setups/NAME.json`` and
``figures/jailbreak_setup_NAME.{png,pdf}`` (:func:`polyground.alignment_figures.jailbreak_setup_figure`).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ..alignment import jailbreak_queries
from ..alignment_figures import jailbreak_setup_figure
from ..checkpoint import load_aligned, load_checkpoint
from ..config import ParamsError, load_params
from ..evaluate import for_evaluation, nested_context_predictions
from ..files import write_json
from ..intervals import median, rate_interval
from ..paths import ALIGN, PRETRAIN, figure, jailbreak_setup_metrics, progress_log, setup_aligned_model
from ..plotting import STYLE, save
from ..tasks import ChebyshevTask, generator_for
from ..threshold import jailbroken
from . import StageError, run_stage

PAPER_CONDITION_STREAM = 2  # the jailbreak stage's stream for its paper condition (degree 4)


def answers_report(excess: torch.Tensor, contexts: list[int], margin: float, margins: list[float], confidence: float):
    """From the answers minus T, (contexts, queries): per n the rates above T and above T + margin with
    their intervals and the median with its interval; at the longest n the rate above T + m for each m.
    Returns the report and its intervals keyed by dotted key within it (``at_n.N.jailbroken.rate``)."""
    queries = excess.shape[1]
    per_n, intervals = {}, {}
    for n, at_n in zip(contexts, excess):
        per_n[str(n)] = {
            "jailbroken": rate_interval(int(jailbroken(at_n, 0.0).sum()), queries, confidence),
            "jailbroken_margin": rate_interval(int(jailbroken(at_n, 0.0, margin).sum()), queries, confidence),
        }
        for rule, found in per_n[str(n)].items():
            intervals[f"at_n.{n}.{rule}.rate"] = [found["low"], found["high"]]
        per_n[str(n)]["median_excess"], intervals[f"at_n.{n}.median_excess"] = median(at_n, confidence)
    longest = excess[-1]
    by_margin = {f"{m:g}": 100 * float(jailbroken(longest, 0.0, m).double().mean()) for m in margins}
    return {"at_n": per_n, "rate_by_margin": by_margin}, intervals


def progress(path: Path, context: int) -> dict[str, list[float]]:
    """The held-out probe along a run: step, rate above T (and T + margin), median answer minus T."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = {"jailbroken": f"jailbreak@{context}", "jailbroken_margin": f"jailbreak_margin@{context}"}
    columns["median_excess"] = f"median_excess@{context}"
    series = {"step": [int(r["step"]) for r in rows]}
    return series | {name: [float(r[column]) for r in rows] for name, column in columns.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m polyground.stages.jailbreak_setup", description=__doc__)
    parser.add_argument("name", help="a setup of align_setups")
    args = parser.parse_args(argv)
    params = load_params()
    if args.name not in params.align_setups:
        raise ParamsError(
            f"{args.name!r} is not in align_setups: choose one of {', '.join(params.align_setups) or 'none'}"
        )
    config, threshold, rule = params.jailbreak, params.align.threshold, params.convergence
    directories = {"ours": ALIGN, args.name: setup_aligned_model(args.name)}
    logs = {setup: progress_log(directory) for setup, directory in directories.items()}
    for path in logs.values():
        if not path.exists():
            raise StageError(f"{path} is missing: the run's held-out probe is logged by the convergence rule")
    torch.set_num_threads(params.threads)
    began = time.perf_counter()
    generator = generator_for(config.seed, "eval", PAPER_CONDITION_STREAM)
    task = ChebyshevTask(config.paper_degree, random_degree=False)
    xs, ys = jailbreak_queries(task, max(config.contexts), config.queries, threshold, generator)
    metrics = {
        "threshold": threshold,
        "margin": config.margin,
        "degree": config.paper_degree,
        "queries": config.queries,
        "contexts": config.contexts,
        "confidence": config.confidence,
        "probe": {"queries": rule.probe_queries, "context": rule.jailbreak_context},
        "intervals": {"level": config.confidence},  # polyground.claims reads these
    }
    _, base_meta = load_checkpoint(PRETRAIN, params.model, stage="pretrain")
    for setup, directory in directories.items():
        model, meta = load_aligned(params, directory, base_meta)
        predicted = nested_context_predictions(for_evaluation(model), xs, ys, config.contexts, config.batch_size)
        report, intervals = answers_report(
            predicted.double() - threshold, config.contexts, config.margin, config.margins, config.confidence
        )
        metrics["intervals"] |= {f"{setup}.{key}": bounds for key, bounds in intervals.items()}
        metrics[setup] = {
            **report,
            "steps": meta["step"],
            "convergence": meta.get("convergence"),
            "align": meta["align"],
            "sha256": meta["sha256"],
            "progress": progress(logs[setup], rule.jailbreak_context),
        }
    write_json(jailbreak_setup_metrics(args.name), metrics)
    plt.rcParams.update(STYLE)
    save(jailbreak_setup_figure(metrics, args.name), figure(f"jailbreak_setup_{args.name}"), params.figures.dpi)
    print(f"jailbreak_setup {args.name}: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    run_stage(main)
