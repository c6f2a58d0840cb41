"""Stages ``evaluate_soft_prompt_sweep`` and ``evaluate_finetune``: the fine-tuned models' errors.

``python -m polyground.stages.evaluate_finetune sweep``: every learning rate of the soft-prompt
sweep on its k; ``metrics/soft_prompt_sweep.json`` (headline errors per learning rate, and
``best_lr``: the lowest error averaged over 0..N-1 examples, and its errors again as ``best``),
``metrics/soft_prompt_sweep_best.json`` (``best_lr`` alone: what the best-rate prompt's training
depends on) and ``metrics/soft_prompt_sweep.csv``.

``python -m polyground.stages.evaluate_finetune grid``: for each k, every method, the untouched
pretrained model, least squares and ridge of the class's degree, the zero predictor and the
Bayes-optimal predictor of the k-fixed-coefficient class (:func:`polyground.bayes.bayes`) (plus the
sweep's best prompt on k = ``sweep_best_on``); on the sweep's k the untouched model's curve is the
sweep's (same sequences: read, not recomputed): ``metrics/finetune/k<k>.csv`` (curves with bands),
``metrics/finetune.json`` (with, per k, the best soft prompt's excess over LoRA: every prompt trained
for that k, the best-rate one included) and ``metrics/finetune_summary.md`` (method x k: trainable
parameters, error at the headline examples, fine-tuning wall time). Every headline error has its
interval (``polyground.intervals``; every model minus LoRA, and the best prompt minus LoRA, paired
by sequence); the chunk means
are in ``metrics/chunks/{soft_prompt_sweep,finetune}.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

from .. import methods
from ..bayes import bayes
from ..checkpoint import load_checkpoint
from ..config import load_params
from ..evaluate import (
    baseline_predictors,
    for_evaluation,
    headline,
    model_predictor,
    read_curves,
    squared_errors,
    summarize,
    write_curves,
)
from ..files import write_atomic, write_json
from ..finetune import load_finetuned
from ..intervals import Book, chunk_rows, headline_chunks
from ..paths import (
    FINETUNE_SUMMARY,
    PRETRAIN,
    SOFT_PROMPT_BEST,
    chunks_path,
    finetune_curves,
    finetune_model,
    metrics_csv,
    metrics_json,
    sweep_model,
)
from ..tasks import ChebyshevTask, generator_for
from . import run_stage

SWEEP_CURVES = metrics_csv("soft_prompt_sweep")
BEST_LR = metrics_json("soft_prompt_sweep_best")  # the sweep's chosen rate, alone


def eval_set(config, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed evaluation sequences of the degree-``degree`` class with k fixed coefficients."""
    task = ChebyshevTask(config.degree, random_degree=False, fixed_coefficients=k)
    xs, ys, _ = task.sample(
        config.num_sequences, config.train.curriculum.points_end, generator_for(config.eval_seed, "eval", k)
    )
    return xs, ys


def sweep_models(params) -> dict[str, tuple[torch.nn.Module, dict]]:
    """The untouched model and the sweep's prompt at each rate (``lrs.<lr>``), with their metadata."""
    base = for_evaluation(load_checkpoint(PRETRAIN, params.model, stage="pretrain")[0])
    models = {"pretrained": (base, {})}
    for lr in params.finetune.sweep_lrs:
        model, meta = load_finetuned(sweep_model(lr), PRETRAIN, f"soft_prompt_sweep@{lr}")
        models[f"lrs.{lr}"] = for_evaluation(model), meta
    return models


def measure_sweep(params, models: dict, rows=None) -> dict[str, torch.Tensor]:
    """Each model's squared errors on the sweep's evaluation set (its ``rows`` only, if given)."""
    config = params.finetune
    xs, ys = eval_set(config, config.sweep_fixed_coefficients)
    if rows is not None:
        xs, ys = xs[rows], ys[rows]
    return {name: squared_errors(model_predictor(m, config.batch_size), xs, ys, ys) for name, (m, _) in models.items()}


def audit_sweep(params, indices: list[int]) -> dict:
    """The sweep's chunk means of chunks ``indices``, measured again (``polyground.audit``)."""
    rows = chunk_rows(params.finetune.num_sequences, params.intervals.chunks, indices)
    errors = measure_sweep(params, sweep_models(params), rows)
    return {name: headline_chunks(e, params.finetune.headline_examples, len(indices)) for name, e in errors.items()}


def sweep(params) -> None:
    config, chunks = params.finetune, params.intervals.chunks
    models = sweep_models(params)
    errors = measure_sweep(params, models)
    curves = {"pretrained": summarize(errors["pretrained"], params.evaluate.confidence)}
    metrics: dict = {"pairs": config.sweep_pairs, "fixed_coefficients": config.sweep_fixed_coefficients, "lrs": {}}
    book = Book(params.intervals)
    book.values = {"pretrained": headline_chunks(errors["pretrained"], config.headline_examples, chunks)}
    for lr in config.sweep_lrs:
        curve = summarize(errors[f"lrs.{lr}"], params.evaluate.confidence)
        curves[f"lr_{lr}"] = curve
        mean = sum(curve["mean"]) / len(curve["mean"])
        metrics["lrs"][str(lr)] = {
            **headline(curve, config.headline_examples),
            "mean_mse": round(mean, 6),
            "diverged": not math.isfinite(mean),
            "wall_s": models[f"lrs.{lr}"][1]["wall_s"],
        }
        if math.isfinite(mean):  # a diverged prompt's errors have no interval
            book.values[f"lrs.{lr}"] = headline_chunks(errors[f"lrs.{lr}"], config.headline_examples, chunks)
    finite = [lr for lr in config.sweep_lrs if not metrics["lrs"][str(lr)]["diverged"]]
    metrics["best_lr"] = min(finite, key=lambda lr: metrics["lrs"][str(lr)]["mean_mse"])
    metrics["best"] = metrics["lrs"][str(metrics["best_lr"])]  # under a fixed key, for the report's text
    metrics["pretrained"] = headline(curves["pretrained"], config.headline_examples)
    book.means()
    write_curves(SWEEP_CURVES, curves)
    book.publish(metrics, "soft_prompt_sweep")
    write_json(BEST_LR, {"best_lr": metrics["best_lr"]})  # what soft_prompt_best depends on: the choice alone


def grid_predictors(params, k: int, base) -> dict[str, tuple]:
    """At k: the untouched model, every method (the best-rate prompt on its k), the baselines and the
    Bayes-optimal predictor, each with its metadata."""
    config = params.finetune
    predictors = {"pretrained": (model_predictor(base, config.batch_size), {"trainable_parameters": 0})}
    directories = {method: (finetune_model(method, k), f"finetune@{method}-{k}") for method in config.methods}
    if k == config.sweep_best_on:
        directories["soft_prompt_best"] = (SOFT_PROMPT_BEST, "soft_prompt_best")
    for method, (directory, stage) in directories.items():
        model, meta = load_finetuned(directory, PRETRAIN, stage)
        predictors[method] = (model_predictor(for_evaluation(model), config.batch_size), meta)
    predictors |= {name: (p, {}) for name, p in baseline_predictors(config.degree, config.ridge).items()}
    task = ChebyshevTask(config.degree, random_degree=False, fixed_coefficients=k)
    predictors["bayes"] = (lambda context_xs, context_ys: bayes(context_xs, context_ys, task), {})
    return predictors


def audit_grid(params, indices: list[int]) -> dict:
    """The grid's chunk means of chunks ``indices``, measured again (``polyground.audit``): the untouched
    model's on the sweep's k too (stored as the sweep's)."""
    config = params.finetune
    base = for_evaluation(load_checkpoint(PRETRAIN, params.model, stage="pretrain")[0])
    rows = chunk_rows(config.num_sequences, params.intervals.chunks, indices)
    found = {}
    for k in config.fixed_coefficients:
        xs, ys = (t[rows] for t in eval_set(config, k))
        found[f"k{k}"] = {
            name: headline_chunks(squared_errors(p, xs, ys, ys), config.headline_examples, len(indices))
            for name, (p, _) in grid_predictors(params, k, base).items()
        }
    return found


def grid(params) -> None:
    config = params.finetune
    base = for_evaluation(load_checkpoint(PRETRAIN, params.model, stage="pretrain")[0])
    metrics: dict = {}
    rows = []
    sweep_chunks = json.loads(chunks_path("soft_prompt_sweep").read_text())["values"]
    book = Book(params.intervals)
    for k in config.fixed_coefficients:
        xs, ys = eval_set(config, k)
        predictors = grid_predictors(params, k, base)
        on_sweep = k == config.sweep_fixed_coefficients  # the untouched model's curve and chunks: the sweep's
        curves = {"pretrained": read_curves(SWEEP_CURVES)["pretrained"]} if on_sweep else {}
        group = book.values[f"k{k}"] = {"pretrained": sweep_chunks["pretrained"]} if on_sweep else {}
        for name, (p, _) in predictors.items():
            if name not in curves:
                errors = squared_errors(p, xs, ys, ys)
                curves[name] = summarize(errors, params.evaluate.confidence)
                group[name] = headline_chunks(errors, config.headline_examples, params.intervals.chunks)
        book.means(f"k{k}")
        write_curves(finetune_curves(k), curves)
        metrics[f"k{k}"] = {}
        for name, (_, meta) in predictors.items():
            entry = {
                **headline(curves[name], config.headline_examples),
                **{key: meta[key] for key in ("trainable_parameters", "wall_s", "lr") if key in meta},
            }
            metrics[f"k{k}"][name] = entry
            rows.append((name, k, entry))
        prompts = [m for m in predictors if methods.soft_prompt(m)]  # the best-rate prompt too, on its k
        if "lora" in config.methods and prompts:  # how far the best soft prompt is behind LoRA, paired by sequence
            gaps = metrics[f"k{k}"]["best_soft_prompt_minus_lora"] = {}
            for key in (f"mse@{n}" for n in config.headline_examples):
                best = min(prompts, key=lambda m: metrics[f"k{k}"][m][key])
                gaps[key] = round(metrics[f"k{k}"][best][key] - metrics[f"k{k}"]["lora"][key], 6)
                book.interval(
                    f"k{k}.best_soft_prompt_minus_lora.{key}",
                    "difference",
                    (f"k{k}", best, key),
                    (f"k{k}", "lora", key),
                )
        if "lora" in config.methods:  # each model minus LoRA on the same sequences, with its interval
            metrics[f"k{k}"]["minus_lora"] = {
                name: book.paired((f"k{k}",), name, "lora", "difference", name=f"minus_lora.{name}")
                for name in predictors
                if name in ("pretrained", "soft_prompt_best", *config.methods) and name != "lora"  # untouched too
            }
    book.publish(metrics, "finetune")
    columns = [f"mse@{n}" for n in config.headline_examples]
    lines = [
        "| method | k | trainable parameters | "
        + " | ".join(f"error at {n}" for n in config.headline_examples)
        + " | fine-tuning wall time (s) | lr |",
        "|" + " --- |" * (len(columns) + 5),
    ]
    for name, k, entry in rows:
        lines.append(
            f"| {name} | {k} | {entry.get('trainable_parameters', '')} | "
            + " | ".join(f"{entry[c]:.4g}" for c in columns)
            + f" | {entry.get('wall_s', '')} | {entry.get('lr', '')} |"
        )
    write_atomic(FINETUNE_SUMMARY, "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m polyground.stages.evaluate_finetune", description=__doc__)
    parser.add_argument("what", choices=("sweep", "grid"))
    args = parser.parse_args(argv)
    params = load_params()
    torch.set_num_threads(params.threads)
    began = time.perf_counter()
    (sweep if args.what == "sweep" else grid)(params)
    print(f"evaluate_finetune {args.what}: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    run_stage(main)
