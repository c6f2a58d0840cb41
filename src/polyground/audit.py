"""The audit: a short check that the stored results follow from the checkpoints and the code.

``python -m polyground.audit`` (``./reproduce.sh --audit``), for every evaluation stage that keeps
chunk means (``polyground.intervals``):

1. **measure**: a random sample of chunks (drawn from fresh entropy, or ``--seed`` to replay a printed
   draw) is evaluated again from the checkpoints and compared with the stored chunk means within the
   re-evaluation tolerance (``polyground.claims.REEVALUATE``); a stage whose stored values do not come
   from its checkpoint and code fails on any chunk drawn;
2. **replay**: every interval is recomputed from the stored chunk means (``intervals.replay``) and
   compared with the metrics file, and every value an interval belongs to with the estimate from the
   chunk means; a stored chunk mean altered after the fact changes the intervals and values it feeds;
3. **verdicts**: every claim of ``paper/claims.yaml`` is decided again from the metrics
   (``polyground.claims``) and compared with its recorded verdict and values.

Prints what it checked, what it could not check from chunk means (medians, from per-sequence values;
Wilson rates, from counts) and every disagreement; exits 1 on any.
"""

from __future__ import annotations

import argparse
import importlib
import json
import secrets
import sys
import time

import numpy as np
import torch

from .claims import load_claims, reevaluated, verify, walk
from .config import load_params
from .intervals import at, estimate, replay
from .paths import chunks_path, metrics_json

MEASURE = {  # the stored chunk means of a stage: its metrics file and the function that measures chunks again
    "pretrain": (metrics_json("pretrain"), "polyground.stages.evaluate_pretrain:audit"),
    "clamping": (metrics_json("clamping"), "polyground.stages.evaluate_clamping:audit"),
    "model_sizes": (metrics_json("model_sizes"), "polyground.stages.evaluate_model_sizes:audit"),
    "align": (metrics_json("align"), "polyground.stages.evaluate_align:audit"),
    "soft_prompt_sweep": (metrics_json("soft_prompt_sweep"), "polyground.stages.evaluate_finetune:audit_sweep"),
    "finetune": (metrics_json("finetune"), "polyground.stages.evaluate_finetune:audit_grid"),
}


def leaves(values: dict, path: tuple[str, ...] = ()):
    """Every stored sample (a list of chunk means, or a masked view's ``mean`` and ``count``) with its path."""
    for key, value in values.items():
        if isinstance(value, list) or "mean" in value:
            yield (*path, key), value
        else:
            yield from leaves(value, (*path, key))


def measure(stage: str, stored: dict, indices: list[int], params) -> list[str]:
    """Chunks ``indices`` of ``stage`` measured again and compared with the stored ones: the disagreements."""
    module, _, function = MEASURE[stage][1].partition(":")
    found = getattr(importlib.import_module(module), function)(params, indices)
    problems = []
    for path, sample in leaves(stored["values"]):
        try:
            again = at(found, path)
        except KeyError:
            problems.append(f"{stage}: {'/'.join(path)} is stored but not measured by its stage")
            continue
        parts = (
            [(p, sample[p], again[p]) for p in ("mean", "count")] if isinstance(sample, dict) else [("", sample, again)]
        )
        for part, old, new in parts:
            for i, chunk in enumerate(indices):
                if not reevaluated(float(new[i]), float(old[chunk])):
                    problems.append(
                        f"{stage}: {'/'.join(path)}{' ' + part if part else ''} chunk {chunk}: "
                        f"stored {old[chunk]:.8g}, measured {new[i]:.8g}"
                    )
    return problems


def replayed(stage: str, stored: dict, metrics: dict, params) -> tuple[list[str], int, list[str]]:
    """Every interval of ``stage`` and its value recomputed from the stored chunk means: the disagreements,
    how many were checked, and the intervals of the metrics file that do not come from chunk means."""
    problems = []
    intervals = replay(stored, params.intervals)
    for name, bounds in intervals.items():
        kept = metrics["intervals"].get(name)
        if kept is None or not all(map(reevaluated, bounds, kept)):
            problems.append(f"{stage}: interval {name} is {kept}, its chunk means give {bounds}")
        recipe = stored["book"][name]
        value = estimate(recipe["kind"], [at(stored["values"], path) for path in recipe["samples"]])
        try:
            kept_value = float(walk(metrics, name))
        except KeyError:
            problems.append(f"{stage}: interval {name} has no value in {MEASURE[stage][0]}")
            continue
        if not reevaluated(value, kept_value):
            problems.append(f"{stage}: {name} is {kept_value:.6g}, its chunk means give {value:.6g}")
    others = [name for name in metrics["intervals"] if name != "level" and name not in intervals]
    return problems, len(intervals), others


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m polyground.audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, help="replay a draw of chunks (printed by every audit)")
    parser.add_argument("--per-stage", type=int, default=10, help="chunks measured again per stage (default 10)")
    parser.add_argument("--no-measure", action="store_true", help="only replay the intervals and verdicts")
    args = parser.parse_args(argv)
    params = load_params()
    if not 1 <= args.per_stage <= params.intervals.chunks:
        print(f"error: --per-stage {args.per_stage} must be between 1 and {params.intervals.chunks}", file=sys.stderr)
        raise SystemExit(2)
    missing = [str(chunks_path(s)) for s in MEASURE if not chunks_path(s).exists()]
    if missing:
        print(f"error: no stored chunk means ({', '.join(missing)}): run `dvc pull` first", file=sys.stderr)
        raise SystemExit(2)
    torch.set_num_threads(params.threads)
    seed = secrets.randbits(32) if args.seed is None else args.seed
    rng = np.random.default_rng(seed)
    print(f"audit: seed {seed} (replay with --audit-seed {seed})")
    problems, began = [], time.perf_counter()
    for stage, (metrics_file, _) in MEASURE.items():
        stored = json.loads(chunks_path(stage).read_text())
        metrics = json.loads(metrics_file.read_text())
        found, checked, others = replayed(stage, stored, metrics, params)
        problems += found
        line = f"  {stage}: {checked} intervals and their values replayed from {stored['chunks']} chunk means"
        if others:
            line += f"; {len(others)} not from chunk means ({', '.join(sorted({n.split('.')[0] for n in others}))})"
        if not args.no_measure:
            indices = sorted(rng.choice(stored["chunks"], args.per_stage, replace=False).tolist())
            problems += measure(stage, stored, indices, params)
            line += f"; chunks {indices} measured again from the checkpoints"
        print(f"{line} [{time.perf_counter() - began:.0f} s]")
    claims = load_claims()
    rows = verify(claims, "reevaluate")
    recorded = {claim["id"]: claim.get("verdict") for claim in claims}
    moved = [r["id"] for r in rows if not r["passed"] or r["verdict"] != recorded[r["id"]]]
    problems += [f"claims: {claim} differs from its recorded value or verdict" for claim in moved]
    print(f"  claims: {len(rows)} verdicts decided again from the metrics")
    for problem in problems:
        print(f"AUDIT FAILED: {problem}")
    print(f"audit: {'FAILED, ' + str(len(problems)) + ' disagreements' if problems else 'passed'} (seed {seed})")
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
