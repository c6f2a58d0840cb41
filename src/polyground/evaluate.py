"""Evaluation: squared error at every number of in-context examples, with confidence bands.

All sequences are drawn at once from the evaluation seed (independent of batch size), the model
is run in batches without gradients, and each method's per-position squared error is reduced to a
mean and a normal-approximation confidence band.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path

import torch
from scipy.stats import norm
from torch import nn
from transformers import DynamicCache
from transformers.models.gpt2.modeling_gpt2 import GPT2MLP

from .baselines import least_squares, zero_predictor
from .config import ProgressConfig
from .files import atomic_path
from .tasks import ChebyshevTask, generator_for

Predictor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
GPU_BATCH_SIZE = 4096  # sequences per forward pass on a GPU (the configured batch sizes are the CPU's best)


def for_evaluation(model: nn.Module) -> nn.Module:
    """The evaluation stages' model, in place: on the GPU when there is one (the CUDA image), else the
    CPU (sequences are drawn on the CPU either way, predictions come back to it), and with its GPT-2
    MLPs' ``gelu_new`` (seven elementwise passes in Python) replaced by torch's fused tanh GELU: the
    same function to float rounding (outputs move by ~2e-7), a 1.3x faster forward pass on CPU
    (bench/forward.py). Training keeps ``gelu_new``: the recipe, and its bit-identical replay, stay."""
    for module in model.modules():
        if isinstance(module, GPT2MLP):
            module.act = nn.GELU(approximate="tanh")
    return model.to(torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def on_device(batch_size: int, device: torch.device) -> int:
    """The batch size to run on ``device``: the configured one on the CPU, at least
    :data:`GPU_BATCH_SIZE` on a GPU (the same predictions, to float rounding, in far fewer passes)."""
    return batch_size if device.type == "cpu" else max(batch_size, GPU_BATCH_SIZE)


def model_predictor(model: nn.Module, batch_size: int) -> Predictor:
    """Batched, gradient-free predictions of a model (so memory does not grow with the count), on
    the device of its parameters (at a GPU's batch size there, :func:`on_device`), returned on the CPU.

    A soft prompt (``peft`` prompt tuning) is the same for every sequence, and causal attention
    keeps its tokens from seeing the data: its keys and values are computed once and every batch
    runs only its own tokens after them (the same predictions as the full pass, to rounding)."""
    prefix = prompt_prefix(model)
    device = next(model.parameters()).device
    batch_size = on_device(batch_size, device)

    def forward(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        xs, ys = xs.to(device), ys.to(device)
        if prefix is None:
            return model(xs, ys)
        cache = DynamicCache([(k.expand(len(xs), -1, -1, -1), v.expand(len(xs), -1, -1, -1)) for k, v in prefix])
        embeds = model.read_in(model.interleave(xs, ys))
        hidden = model.backbone.get_base_model()(inputs_embeds=embeds, past_key_values=cache, use_cache=True)
        return model.read_out(hidden.last_hidden_state[:, ::2]).squeeze(-1)

    def predict(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        model.eval()
        with torch.inference_mode():
            return torch.cat(
                [forward(xs[i : i + batch_size], ys[i : i + batch_size]).cpu() for i in range(0, len(xs), batch_size)]
            )

    return predict


def prompt_prefix(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
    """Per layer, the keys and values of the model's soft prompt (batch 1); None without one."""
    if not getattr(model, "prompt_tokens", 0):
        return None
    model.eval()
    with torch.inference_mode():
        prompt = model.backbone.get_prompt(batch_size=1)
        cache = model.backbone.get_base_model()(inputs_embeds=prompt, use_cache=True).past_key_values
    return [(layer.keys, layer.values) for layer in cache.layers]


def nested_context_predictions(
    model: nn.Module, xs: torch.Tensor, ys: torch.Tensor, contexts: list[int], batch_size: int
) -> torch.Tensor:
    """(len(contexts), sequences): the prediction at each sequence's last x after only its first n
    pairs, for each n of ``contexts`` (nested contexts of one sequence, a paired design across n).

    The longest context runs once per batch with its keys and values cached; each n crops the cache
    to its first n pairs and runs the query token alone (the same predictions as a pass over the n
    pairs and the query, to rounding)."""
    if getattr(model, "prompt_tokens", 0):
        raise ValueError("nested_context_predictions takes a model without a soft prompt")
    if max(contexts) >= xs.shape[1]:
        raise ValueError(f"contexts up to {max(contexts)} need more than {xs.shape[1] - 1} context pairs")
    longest = max(contexts)
    predictions = torch.empty(len(contexts), len(xs))
    device = next(model.parameters()).device
    batch_size = on_device(batch_size, device)
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(xs), batch_size):
            batch = slice(i, i + batch_size)
            context_xs, context_ys = xs[batch, :longest].to(device), ys[batch, :longest].to(device)
            cache = model.backbone(
                inputs_embeds=model.read_in(model.interleave(context_xs, context_ys)), use_cache=True
            ).past_key_values
            query = model.read_in(xs[batch, -1:, None].to(device))
            for j in sorted(range(len(contexts)), key=lambda j: -contexts[j]):
                if cache.get_seq_length() > 2 * contexts[j]:
                    cache.crop(2 * contexts[j] - cache.get_seq_length())  # a negative count: tokens to drop
                hidden = model.backbone(inputs_embeds=query, past_key_values=cache, use_cache=True).last_hidden_state
                predictions[j, batch] = model.read_out(hidden[:, -1]).squeeze(-1).cpu()
    return predictions


def squared_errors(
    predict: Predictor, xs: torch.Tensor, ys_context: torch.Tensor, ys_target: torch.Tensor
) -> torch.Tensor:
    """(sequences, points) squared errors of ``predict`` given the context."""
    return (predict(xs, ys_context).double() - ys_target.double()) ** 2


def summarize(errors: torch.Tensor, confidence: float) -> dict[str, list[float]]:
    """Mean over sequences per position, and the two-sided normal-approximation band."""
    z = norm.ppf(0.5 + confidence / 2)
    mean = errors.mean(0)
    half = z * errors.std(0) / math.sqrt(errors.shape[0])
    return {"mean": mean.tolist(), "low": (mean - half).tolist(), "high": (mean + half).tolist()}


def summarize_where(errors: torch.Tensor, mask: torch.Tensor, confidence: float) -> dict[str, list[float]]:
    """Per position, mean and normal band of the errors where ``mask`` holds (NaN with < 2)."""
    z = norm.ppf(0.5 + confidence / 2)
    count = mask.sum(0).double()
    mean = (errors * mask).sum(0) / count
    variance = (((errors - mean) * mask) ** 2).sum(0) / (count - 1)
    half = z * variance.sqrt() / count.sqrt()
    return {"mean": mean.tolist(), "low": (mean - half).tolist(), "high": (mean + half).tolist()}


def eval_sequences(
    task: ChebyshevTask, n_sequences: int, n_points: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed evaluation set: (xs, ys) of shape (n_sequences, n_points)."""
    xs, ys, _ = task.sample(n_sequences, n_points, generator_for(seed, "eval"))
    return xs, ys


def progress_probe(task: ChebyshevTask, config: ProgressConfig) -> Callable[[nn.Module], dict[str, float]]:
    """The fixed progress set of a pretraining run (drawn once, from ``config.seed``) and a probe
    returning the model's mean squared error at ``config.examples`` in-context examples overall
    (``mse@N``) and per drawn degree at ``config.degree_examples`` (``mse@N_degD``)."""
    xs, ys, coefficients = task.sample(config.num_sequences, config.points, generator_for(config.seed, "eval"))
    degrees = ((coefficients != 0) * torch.arange(coefficients.shape[1])).amax(1)

    def probe(model: nn.Module) -> dict[str, float]:
        errors = squared_errors(model_predictor(model, config.batch_size), xs, ys, ys)
        results = {f"mse@{n}": errors[:, n].mean().item() for n in config.examples}
        for degree in range(task.max_degree + 1):
            chosen = errors[degrees == degree]
            results.update({f"mse@{n}_deg{degree}": chosen[:, n].mean().item() for n in config.degree_examples})
        return results

    return probe


def baseline_predictors(degree: int, ridge: float) -> dict[str, Predictor]:
    """The paper's baselines at a given Chebyshev degree."""
    return {
        "least_squares": lambda xs, ys: least_squares(xs, ys, degree),
        "ridge": lambda xs, ys: least_squares(xs, ys, degree, ridge=ridge),
        "zero": zero_predictor,
    }


def write_curves(path: str | Path, curves: dict[str, dict[str, list[float]]]) -> None:
    """Wide CSV: examples, then <method>, <method>_low, <method>_high per method."""
    methods = list(curves)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["examples"] + [f"{m}{s}" for m in methods for s in ("", "_low", "_high")])
        for i in range(len(curves[methods[0]]["mean"])):
            writer.writerow([i] + [f"{curves[m][k][i]:.6g}" for m in methods for k in ("mean", "low", "high")])


def read_curves(path: str | Path) -> dict[str, dict[str, list[float]]]:
    """Inverse of :func:`write_curves`."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    methods = [c for c in rows[0] if c != "examples" and not c.endswith(("_low", "_high"))]
    return {
        m: {k: [float(r[m + s]) for r in rows] for k, s in (("mean", ""), ("low", "_low"), ("high", "_high"))}
        for m in methods
    }


def headline(curve: dict[str, list[float]], examples: list[int]) -> dict[str, float]:
    """Mean squared error at selected numbers of in-context examples."""
    return {f"mse@{n}": round(curve["mean"][n], 6) for n in examples}


def beats_from(model: list[float], other: list[float]) -> int | None:
    """The smallest n from which the model's mean error stays below ``other``'s (None: never)."""
    start = None
    for n, (a, b) in enumerate(zip(model, other)):
        if a < b:
            start = n if start is None else start
        else:
            start = None
    return start
