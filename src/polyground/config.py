"""Typed, validated view of ``params.yaml``.

Every section is a dataclass; :func:`load_params` rejects unknown keys, wrong types and values
outside their range with one :class:`ParamsError` that names the key and the allowed range, before
any work starts. Range rules live next to the fields (``ge``, ``gt``, ``le``, ``choices``).
"""

from __future__ import annotations

import dataclasses
import operator
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ParamsError(ValueError):
    """A bad value in params.yaml (or a named parameter set)."""


def _rule(default: Any = dataclasses.MISSING, **rules: Any) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=rules)
    return field(default=default, metadata=rules)


@dataclass
class ModelConfig:
    """GPT-2 size; ``max_points`` (x, y) pairs fit its 2 * max_points learned positions."""

    n_embd: int = _rule(128, gt=0)
    n_layer: int = _rule(6, gt=0)
    n_head: int = _rule(4, gt=0)
    max_points: int = _rule(81, gt=0)

    def check(self, key: str) -> None:
        if self.n_embd % self.n_head:
            raise ParamsError(
                f"{key}.n_head = {self.n_head} does not divide {key}.n_embd = {self.n_embd}: "
                "choose n_head among the divisors of n_embd"
            )


@dataclass
class TaskConfig:
    """Chebyshev class (see :class:`polyground.tasks.ChebyshevTask`)."""

    max_degree: int = _rule(11, ge=0, le=30)
    random_degree: bool = True
    fixed_coefficients: int = _rule(0, ge=0)

    def check(self, key: str) -> None:
        if self.fixed_coefficients > self.max_degree + 1:
            raise ParamsError(
                f"{key}.fixed_coefficients = {self.fixed_coefficients} is out of range: "
                f"allowed 0..{self.max_degree + 1} (max_degree + 1)"
            )


@dataclass
class CurriculumConfig:
    """Points per sequence: points_start, + points_step every step_every steps, up to points_end;
    then, for the last ``final_steps`` steps of the run, ``final_points`` (0 steps: no final phase).
    Short sequences are cheap: most steps can teach the in-context algorithm at points_end, and a
    final phase trains the positions the longer contexts of later experiments need.

    Degree (random-degree classes only): the drawn degree is capped at degree_start + 1 every
    degree_every steps, up to the task's max_degree; degree_start >= max_degree turns it off.
    """

    points_start: int = _rule(5, gt=0)
    points_end: int = _rule(81, gt=0)
    points_step: int = _rule(2, ge=0)
    step_every: int = _rule(2000, gt=0)
    degree_start: int = _rule(30, ge=0)
    degree_every: int = _rule(1, gt=0)
    final_points: int = _rule(81, gt=0)
    final_steps: int = _rule(0, ge=0)

    def check(self, key: str) -> None:
        if self.points_start > self.points_end:
            raise ParamsError(
                f"{key}.points_start = {self.points_start} exceeds {key}.points_end = {self.points_end}"
            )


@dataclass
class TrainConfig:
    """One training run: optimiser (AdamW), schedule, curriculum, checkpointing."""

    steps: int = _rule(1000, gt=0)
    batch_size: int = _rule(64, gt=0)
    lr: float = _rule(1e-3, gt=0, le=10)
    schedule: str = _rule("cosine", choices=("cosine", "constant"))
    warmup_steps: int = _rule(0, ge=0)
    min_lr_ratio: float = _rule(0.1, ge=0, le=1)
    weight_decay: float = _rule(0.0, ge=0)
    beta1: float = _rule(0.9, ge=0, lt=1)
    beta2: float = _rule(0.999, ge=0, lt=1)
    grad_clip: float = _rule(1.0, ge=0)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    checkpoint_every: int = _rule(250, gt=0)
    log_every: int = _rule(10, gt=0)
    compile: bool = False

    def check(self, key: str) -> None:
        self.curriculum.check(f"{key}.curriculum")
        if self.curriculum.final_steps > self.steps:
            raise ParamsError(
                f"{key}.curriculum.final_steps = {self.curriculum.final_steps} exceeds "
                f"{key}.steps = {self.steps}: the final phase is part of the run"
            )
        if self.checkpoint_every % self.log_every:
            raise ParamsError(
                f"{key}.checkpoint_every = {self.checkpoint_every} is not a multiple of "
                f"{key}.log_every = {self.log_every}: a resumed run must restart on a log boundary"
            )


@dataclass
class PretrainConfig:
    """The pretraining stage: task class and training run."""

    task: TaskConfig = field(default_factory=TaskConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def check(self, key: str) -> None:
        self.task.check(f"{key}.task")
        self.train.check(f"{key}.train")


@dataclass
class EvaluateConfig:
    """Evaluation: sequences from a fixed seed, baselines, headline positions."""

    seed: int = _rule(20240726, ge=0)
    num_sequences: int = _rule(10000, gt=0)
    batch_size: int = _rule(500, gt=0)
    points: int = _rule(81, gt=1)
    plot_points: int = _rule(31, gt=1)
    headline_examples: list = _rule([5, 10, 20, 30])
    baseline_degree: int = _rule(11, ge=0)
    ridge: float = _rule(0.2, gt=0)
    confidence: float = _rule(0.99, gt=0, lt=1)

    def check(self, key: str) -> None:
        for n in self.headline_examples:
            if not isinstance(n, int) or not 0 <= n < self.points:
                raise ParamsError(
                    f"{key}.headline_examples has {n!r}: allowed integers 0..{self.points - 1} "
                    f"(below {key}.points)"
                )
        if self.plot_points > self.points:
            raise ParamsError(f"{key}.plot_points = {self.plot_points} exceeds {key}.points = {self.points}")


@dataclass
class FiguresConfig:
    """Function-class figure: example curves and the density of y given x."""

    seed: int = _rule(7, ge=0)
    example_curves: int = _rule(5, gt=0)
    density_samples: int = _rule(20000, gt=0)
    density_fixed_coefficients: int = _rule(3, ge=0, le=6)
    dpi: int = _rule(200, gt=0)


@dataclass
class ClampingConfig:
    """In-context clamping (Behavior I): the base model shown clamped contexts y = min(p(x), T).

    ``degrees``: the fixed degrees evaluated; ``picture_*``: the one degree-``picture_degree``
    polynomial of the clamping picture, its ``picture_context`` clamped points and the query grid.
    """

    threshold: float = _rule(0.5)
    degrees: list = _rule([4, 8])
    seed: int = _rule(20240727, ge=0)
    num_sequences: int = _rule(10000, gt=1)
    batch_size: int = _rule(500, gt=0)
    headline_examples: list = _rule([1, 5, 10, 20, 40, 80])
    picture_degree: int = _rule(4, ge=0, le=30)
    picture_context: int = _rule(40, gt=0)
    picture_grid: int = _rule(201, gt=1)
    picture_seed: int = _rule(3, ge=0)

    def check(self, key: str) -> None:
        if not self.degrees or not all(isinstance(d, int) and 0 <= d <= 30 for d in self.degrees):
            raise ParamsError(f"{key}.degrees = {self.degrees!r}: give a non-empty list of degrees in 0..30")


@dataclass
class SeedSpreadConfig:
    """Seed-to-seed spread of a short pretraining run (the retrain tolerances of the claims).

    Each seed trains the default recipe (``pretrain``) shortened to ``steps`` steps, without the
    final long-context phase and without compilation, and is evaluated like ``evaluate_pretrain``
    on ``num_sequences`` sequences.
    """

    seeds: list = _rule([1, 2, 3])
    steps: int = _rule(1200, gt=0)
    num_sequences: int = _rule(2000, gt=1)

    def check(self, key: str) -> None:
        if len(self.seeds) < 3 or len(set(self.seeds)) != len(self.seeds):
            raise ParamsError(f"{key}.seeds = {self.seeds!r}: give at least 3 distinct seeds")


@dataclass
class Params:
    """All of params.yaml."""

    seed: int = _rule(0, ge=0)
    threads: int = _rule(2, gt=0)
    model: ModelConfig = field(default_factory=ModelConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    figures: FiguresConfig = field(default_factory=FiguresConfig)
    seed_spread: SeedSpreadConfig = field(default_factory=SeedSpreadConfig)
    clamping: ClampingConfig = field(default_factory=ClampingConfig)

    def check(self, key: str = "") -> None:
        self.model.check("model")
        self.pretrain.check("pretrain")
        self.evaluate.check("evaluate")
        self.seed_spread.check("seed_spread")
        self.clamping.check("clamping")
        for n in self.clamping.headline_examples:
            if not isinstance(n, int) or not 0 <= n < self.model.max_points:
                raise ParamsError(
                    f"clamping.headline_examples has {n!r}: allowed integers 0..{self.model.max_points - 1} "
                    "(below model.max_points)"
                )
        if self.clamping.picture_context >= self.model.max_points:
            raise ParamsError(
                f"clamping.picture_context = {self.clamping.picture_context} leaves no position for the "
                f"query: allowed 1..{self.model.max_points - 1} (below model.max_points)"
            )
        for name, points in (
            ("pretrain.train.curriculum.points_end", self.pretrain.train.curriculum.points_end),
            ("pretrain.train.curriculum.final_points", self.pretrain.train.curriculum.final_points),
            ("evaluate.points", self.evaluate.points),
        ):
            if points > self.model.max_points:
                raise ParamsError(
                    f"{name} = {points} exceeds model.max_points = {self.model.max_points} "
                    f"(the model has {2 * self.model.max_points} positions): lower it or raise model.max_points"
                )


_SYMBOLS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_CHECKS = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
    "choices": lambda value, choices: value in choices,
}


def _describe(rules: Any) -> str:
    if "choices" in rules:
        return "one of " + ", ".join(map(str, rules["choices"]))
    return " and ".join(f"{_SYMBOLS[op]} {bound}" for op, bound in rules.items())


def _build(cls: type, data: Any, key: str) -> Any:
    if not isinstance(data, dict):
        raise ParamsError(f"{key or 'params'} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ParamsError(
            f"unknown key {', '.join(f'{key}.{u}'.lstrip('.') for u in unknown)}: "
            f"allowed keys here are {', '.join(sorted(fields))}"
        )
    values = {}
    for name, value in data.items():
        full, hint, rules = f"{key}.{name}".lstrip("."), hints[name], fields[name].metadata
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, value, full)
            continue
        expected = typing.get_origin(hint) or hint
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and expected is not bool or not isinstance(value, expected):
            raise ParamsError(f"{full} = {value!r} has the wrong type: expected {expected.__name__}")
        if not all(_CHECKS[op](value, bound) for op, bound in rules.items()):
            raise ParamsError(f"{full} = {value!r} is out of range: allowed {_describe(rules)}")
        values[name] = value
    return cls(**values)


def params_from_dict(data: dict) -> Params:
    """Validate a parsed params mapping (see module docstring)."""
    params = _build(Params, data, "")
    params.check()
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``path``; a :class:`ParamsError` says what is wrong and where."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found: run from the repository root, where params.yaml lives")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ParamsError(f"{path} is not valid YAML: {error}") from None
    try:
        return params_from_dict(data)
    except ParamsError as error:
        raise ParamsError(f"{path}: {error}") from None


def as_dict(obj: Any) -> dict:
    """Plain-dict form of a config dataclass (for JSON sidecars and hashing)."""
    return dataclasses.asdict(obj)


def merge(base: dict, override: dict) -> dict:
    """Deep merge: mappings merge key by key, anything else in ``override`` replaces."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def main(argv: list[str] | None = None) -> None:
    """``python -m polyground.config SET [--params params.yaml]``: apply a named parameter set.

    Merges ``configs/SET.yaml`` over the params file, validates the result and writes it back.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m polyground.config", description=main.__doc__)
    parser.add_argument("set", help="name of a parameter set in configs/ (e.g. smoke, paper_recipe)")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    path = Path("configs") / f"{args.set}.yaml"
    try:
        if not path.exists():
            names = ", ".join(sorted(p.stem for p in Path("configs").glob("*.yaml")))
            raise ParamsError(f"no parameter set {args.set!r}: {path} not found (sets: {names})")
        merged = merge(yaml.safe_load(Path(args.params).read_text()), yaml.safe_load(path.read_text()) or {})
        params_from_dict(merged)
    except ParamsError as error:
        print(f"error: {path}: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    Path(args.params).write_text(
        f"# {args.params} with the parameter set configs/{args.set}.yaml applied\n"
        + yaml.safe_dump(merged, sort_keys=False)
    )
    print(f"applied {path} to {args.params}")


if __name__ == "__main__":
    main()
