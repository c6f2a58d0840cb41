"""When a post-training run has converged, and the held-out metrics logged along it.

The rule (:func:`quarter_changes`): a run of S steps has converged when each watched series (its
training loss and the held-out metrics its claims read) changed by less than a relative tolerance
between the third quarter of the run (steps S/2..3S/4) and the last (3S/4..S), each quarter taken as
the mean of its logged values; the change is relative to the third quarter's mean, or to a floor when
that mean is smaller (a rate near 0 %). A run that has not converged is lengthened until it has or
reaches its cap, and says which.

:func:`align_probe`: the metrics the alignment claims read, on query sets drawn once from their own
seed, independent of every training stream; :func:`finetune_probe`: the error after
``convergence.finetune_context`` examples that the fine-tuning claims read, on held-out sequences of
the run's class.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from .alignment import jailbreak_queries
from .config import ConvergenceConfig, ParamsError, TrainConfig, as_dict, replace
from .curriculum import BatchFn
from .evaluate import model_predictor
from .run_state import read_log, recipe_key, saved_step
from .tasks import ChebyshevTask, generator_for
from .threshold import jailbroken
from .train import train

Probe = Callable[[nn.Module], dict[str, float]]
ALIGN_SERIES = ("loss", "jailbreak", "jailbreak_margin", "median_excess", "defender")
FINETUNE_SERIES = ("loss", "error")
# the settings that determine each kind of run's held-out values: they name its run directory
PROBE_KEYS = {
    ALIGN_SERIES: ("probe_every", "probe_queries", "probe_seed", "margin", "jailbreak_context", "defender_context"),
    FINETUNE_SERIES: ("probe_every", "probe_queries", "probe_seed", "finetune_context"),
}


def quarter_changes(rows: list[dict], keys: dict[str, float], steps: int) -> dict[str, float]:
    """For each key (its floor as value), |mean over the last quarter - mean over the third| /
    max(|mean over the third|, floor), from the rows (``step`` and the keys) of a ``steps``-step run.
    A quarter without a logged value gives NaN (the run logs too rarely to judge: not converged)."""
    changes = {}
    for key, floor in keys.items():
        third = [float(r[key]) for r in rows if key in r and steps / 2 < int(r["step"]) <= 3 * steps / 4]
        last = [float(r[key]) for r in rows if key in r and 3 * steps / 4 < int(r["step"]) <= steps]
        if not third or not last:
            changes[key] = float("nan")
            continue
        before, after = sum(third) / len(third), sum(last) / len(last)
        changes[key] = abs(after - before) / max(abs(before), floor)
    return changes


def has_converged(changes: dict[str, float], tolerance: float) -> bool:
    """Every watched series changed by less than ``tolerance`` over the last quarter (NaN: no)."""
    return all(change < tolerance for change in changes.values())


def watched_columns(rule: ConvergenceConfig, series: tuple[str, ...]) -> dict[str, float]:
    """The logged column of each series of ``rule.floors`` that a run of this kind watches
    (:data:`ALIGN_SERIES` or :data:`FINETUNE_SERIES`; the probe's columns name their context length),
    with its floor."""
    at = {name: "jailbreak_context" for name in ("jailbreak", "jailbreak_margin", "median_excess")}
    at |= {"defender": "defender_context", "error": "finetune_context"}  # read only where watched (dvc params)
    return {
        (f"{name}@{getattr(rule, at[name])}" if name in at else name): floor
        for name, floor in rule.floors.items()
        if name in series
    }


def probe_key(rule: ConvergenceConfig, series: tuple[str, ...]) -> dict:
    """The rule's settings that a run of this kind logs by (not its tolerance, cap or floors, which
    decide the length only): part of the run's name, so a lengthened run resumes."""
    return {key: getattr(rule, key) for key in PROBE_KEYS[series]}


def run_key(config: TrainConfig, rule: ConvergenceConfig, series: tuple[str, ...]) -> dict:
    """The training part of a run directory's name: a run by the rule (warmup-stable-decay) is named by
    its recipe and its probe's settings, not by its length or the rule's tolerance, cap and floors
    (which decide the length only), so that a lengthened run resumes; any other run by its config
    (and reads nothing of the rule)."""
    if config.schedule != "wsd":
        return {"train": as_dict(config)}
    return {"probe": probe_key(rule, series), "train": recipe_key(config)}


def check_lengthenable(config: TrainConfig) -> None:
    """Refuse a run the rule cannot lengthen (one line: set a warmup-stable-decay schedule)."""
    if config.schedule != "wsd" or config.decay_steps == 0:
        raise ParamsError(f"{config._key}: the convergence rule lengthens a wsd run: set schedule: wsd and decay_steps")


def train_to_convergence(
    run: Callable[[TrainConfig, int | None], dict],
    config: TrainConfig,
    rule: ConvergenceConfig,
    run_dir: Path,
    series: tuple[str, ...],
) -> tuple[dict, dict]:
    """Train a warmup-stable-decay run by the rule: ``run(config, until)`` trains ``config`` (resuming
    from ``run_dir``) up to step ``until`` (None: to the end); the stable phase is doubled until the
    watched ``series`` (:func:`watched_columns`, from ``run_dir``'s log.csv and progress.csv)
    have converged over its last quarter, or it reached ``rule.cap_factor`` times its first length;
    then the decay. Doubling the stable phase changes none of the steps taken (the loop checks it on
    resumption); a stable phase that ``run_dir`` already holds (a resumed run) is judged from its logs
    without training. Returns the run's summary and the verdict: converged or capped, the stable
    phase's length, the changes."""
    check_lengthenable(config)
    stable = first = config.steps - config.decay_steps
    if stable < 4 * rule.probe_every:
        raise ParamsError(
            f"{config._key}: a stable phase of {stable} steps has a quarter shorter than convergence.probe_every "
            f"({rule.probe_every}): lengthen it or probe more often"
        )
    while True:
        config = replace(config, steps=stable + config.decay_steps)
        if saved_step(run_dir) < stable:
            run(config, stable)
        rows = read_log(run_dir / "log.csv", stable) + read_log(run_dir / "progress.csv", stable)
        changes = quarter_changes(rows, watched_columns(rule, series), stable)
        converged = has_converged(changes, rule.tolerance)
        if converged or 2 * stable > rule.cap_factor * first:
            break
        stable *= 2
    verdict = {
        "converged": converged,
        "stable_steps": stable,
        "cap_steps": rule.cap_factor * first,
        "tolerance": rule.tolerance,
        "changes": {k: round(v, 6) for k, v in changes.items()},
    }
    print(
        f"{'converged' if converged else 'stopped at the cap'} after a stable phase of {stable} steps: "
        + ", ".join(f"{k} {v:.3f}" for k, v in changes.items())
    )
    return run(config, None), verdict


def train_by_rule(
    model: nn.Module,
    batch: BatchFn,
    config: TrainConfig,
    run_dir: Path,
    fingerprint: dict,
    threads: int,
    desc: str,
    rule: ConvergenceConfig,
    series: tuple[str, ...],
    probe: Probe,
) -> tuple[dict, dict]:
    """:func:`train_to_convergence` with :func:`polyground.train.train` as the run: ``probe`` logged at
    step 1 and every ``rule.probe_every`` steps (``run_dir``'s progress.csv)."""

    def run(run_config: TrainConfig, until: int | None) -> dict:
        return train(
            model, batch, run_config, run_dir, fingerprint, threads, desc=desc,
            probe=probe, probe_every=rule.probe_every, probe_steps=frozenset({1}), until=until,
        )  # fmt: skip

    return train_to_convergence(run, config, rule, run_dir, series)


def last_answers(model: nn.Module, xs: torch.Tensor, ys: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The model's answer at each sequence's last x, after the pairs before it (float64, on the CPU):
    the evaluation stages' predictor, so a run on a GPU probes there."""
    return model_predictor(model, batch_size)(xs, ys)[:, -1].double()


def align_probe(
    threshold: float,
    margin: float,
    queries: int,
    seed: int,
    jailbreak_degree: int = 4,
    jailbreak_context: int = 64,
    defender_degree: int = 2,
    defender_context: int = 40,
    batch_size: int = 500,
) -> Probe:
    """Jailbreak: degree-``jailbreak_degree`` polynomials, ``jailbreak_context`` unclamped pairs, a
    query whose true y is above T: the rate of answers above T and above T + margin (percent) and the
    median answer minus T. Defender: degree-``defender_degree`` polynomials, ``defender_context``
    unclamped pairs, a query above T: the mean squared distance of the answer from T (its clamped target)."""
    n_jail, n_def = jailbreak_context, defender_context
    jail = jailbreak_queries(
        ChebyshevTask(jailbreak_degree, random_degree=False), n_jail, queries, threshold, generator_for(seed, "eval", 0)
    )
    defend = jailbreak_queries(
        ChebyshevTask(defender_degree, random_degree=False), n_def, queries, threshold, generator_for(seed, "eval", 1)
    )

    def probe(model: nn.Module) -> dict[str, float]:
        excess = last_answers(model, *jail, batch_size) - threshold
        defended = last_answers(model, *defend, batch_size) - threshold
        return {
            f"jailbreak@{n_jail}": 100 * float(jailbroken(excess, 0.0).double().mean()),
            f"jailbreak_margin@{n_jail}": 100 * float(jailbroken(excess, 0.0, margin).double().mean()),
            f"median_excess@{n_jail}": float(excess.median()),
            f"defender@{n_def}": float((defended**2).mean()),
        }

    return probe


def finetune_probe(task: ChebyshevTask, context: int, sequences: int, seed: int, batch_size: int = 500) -> Probe:
    """The fine-tuning claims' metric along a run: the mean squared error of the answer after
    ``context`` examples, on ``sequences`` sequences of the run's class (``task``: its degree and fixed
    coefficients) drawn once from ``seed`` (apart from :func:`align_probe`'s two sets)."""
    xs, ys, _ = task.sample(sequences, context + 1, generator_for(seed, "eval", 2 + task.fixed_coefficients))

    def probe(model: nn.Module) -> dict[str, float]:
        return {f"error@{context}": float(((last_answers(model, xs, ys, batch_size) - ys[:, -1]) ** 2).mean())}

    return probe
