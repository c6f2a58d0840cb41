"""Typed, validated view of ``params.yaml``.

Every section is a dataclass; :func:`load_params` rejects unknown keys, wrong types and values
outside their range with one :class:`ParamsError` that names the key and the allowed range, before
any work starts. Range rules live next to the fields (``ge``, ``gt``, ``le``, ``choices``).
"""

from __future__ import annotations

import dataclasses
import operator
import re
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
    """One training run: optimiser (AdamW), schedule, curriculum, checkpointing.

    Schedules: ``cosine`` (warmup, then cosine to lr * min_lr_ratio at ``steps``), ``constant``
    (warmup, then lr), ``wsd`` (warmup-stable-decay: warmup, constant lr, then a linear decay to
    lr * min_lr_ratio over the last ``decay_steps``). A wsd run can be lengthened while it runs:
    until its decay starts, raising ``steps`` changes none of the steps already taken.
    """

    steps: int = _rule(1000, gt=0)
    batch_size: int = _rule(64, gt=0)
    lr: float = _rule(1e-3, gt=0, le=10)
    schedule: str = _rule("cosine", choices=("cosine", "constant", "wsd"))
    warmup_steps: int = _rule(0, ge=0)
    decay_steps: int = _rule(0, ge=0)  # wsd: the linear decay to lr * min_lr_ratio in the last decay_steps
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
        if self.schedule == "wsd" and not 0 < self.decay_steps <= self.steps - self.warmup_steps:
            raise ParamsError(
                f"{key}.decay_steps = {self.decay_steps}: the wsd schedule needs 1..{self.steps - self.warmup_steps} "
                f"decay steps ({key}.steps - {key}.warmup_steps)"
            )
        if self.checkpoint_every % self.log_every:
            raise ParamsError(
                f"{key}.checkpoint_every = {self.checkpoint_every} is not a multiple of "
                f"{key}.log_every = {self.log_every}: a resumed run must restart on a log boundary"
            )


@dataclass
class ProgressConfig:
    """Progress of a pretraining run: every ``every`` steps (0: never) the model is evaluated on a
    fixed set of ``num_sequences`` sequences of ``points`` points drawn from ``seed`` (its own,
    independent of training and of ``evaluate``), overall at ``examples`` and per degree at
    ``degree_examples`` in-context examples."""

    every: int = _rule(0, ge=0)
    seed: int = _rule(20240731, ge=0)
    num_sequences: int = _rule(2000, gt=0)
    points: int = _rule(81, gt=1)
    batch_size: int = _rule(500, gt=0)
    examples: list = _rule([5, 10, 20, 30, 80])
    degree_examples: list = _rule([10, 20, 30])

    def check(self, key: str) -> None:
        for name in ("examples", "degree_examples"):
            values = getattr(self, name)
            if not values or not all(isinstance(n, int) and 0 <= n < self.points for n in values):
                raise ParamsError(f"{key}.{name} = {values!r}: give integers in 0..{self.points - 1} "
                                  f"(below {key}.points)")


@dataclass
class PretrainConfig:
    """The pretraining stage: task class, training run and its progress evaluation."""

    task: TaskConfig = field(default_factory=TaskConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    progress: ProgressConfig = field(default_factory=ProgressConfig)

    def check(self, key: str) -> None:
        self.task.check(f"{key}.task")
        self.train.check(f"{key}.train")
        self.progress.check(f"{key}.progress")


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
    sizes_degree: int = _rule(8, ge=0, le=30)

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
class AlignConfig:
    """The aligned model: full fine-tuning of the paper-size base model on clamped targets.

    Every target is min(p(x), ``threshold``). A share ``clamped_context_fraction`` of the sequences
    (drawn per sequence) shows the clamped values in its context, the rest the unclamped ones, so
    the model learns to clamp even when the context does not (the original code had both variants:
    1.0 and 0.0). ``seed`` draws the fine-tuning data stream, separate from pretraining's; ``task``
    and ``train`` as in pretraining.
    """

    task: TaskConfig = field(default_factory=TaskConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    threshold: float = _rule(0.5)
    clamped_context_fraction: float = _rule(0.5, ge=0, le=1)
    seed: int = _rule(1, ge=0)

    def check(self, key: str) -> None:
        self.task.check(f"{key}.task")
        self.train.check(f"{key}.train")


@dataclass
class EvaluateAlignConfig:
    """The aligned model on degree-``degree`` clamped regression, and the defender view (queries
    whose true y is above the threshold; target the threshold) with clamped and unclamped context."""

    degree: int = _rule(2, ge=0, le=30)
    seed: int = _rule(20240728, ge=0)
    num_sequences: int = _rule(10000, gt=1)
    batch_size: int = _rule(500, gt=0)
    headline_examples: list = _rule([1, 5, 10, 20, 40, 80])


@dataclass
class JailbreakConfig:
    """Jailbreaking (Behavior II): the aligned model, an unclamped context of n examples, a query
    whose true y is above the threshold; jailbroken = prediction > T (and > T + ``margin``).
    ``queries`` queries per n, independent per n; Wilson ``confidence`` intervals."""

    contexts: list = _rule([2, 4, 8, 16, 32, 64])
    queries: int = _rule(20000, gt=1)
    margin: float = _rule(0.05, ge=0)
    seed: int = _rule(20240729, ge=0)
    batch_size: int = _rule(1000, gt=0)
    confidence: float = _rule(0.99, gt=0, lt=1)

    def check(self, key: str) -> None:
        if len(self.contexts) < 3 or not all(isinstance(n, int) and n >= 1 for n in self.contexts):
            raise ParamsError(f"{key}.contexts = {self.contexts!r}: give at least 3 context lengths >= 1")


@dataclass
class FinetuneConfig:
    """Fine-tuning (the paper's second half): each method of ``methods`` from the same pretrained
    model, on the degree-``degree`` class with k fixed coefficients for each k of
    ``fixed_coefficients``, with the same data stream (``seed``) and budget (``train``: its ``lr``
    for LoRA and soft prompts, ``full_finetune_lr`` for full fine-tuning). The soft-prompt sweep
    trains ``sweep_pairs`` pairs on k = ``sweep_fixed_coefficients`` at each of ``sweep_lrs``, then
    the best on k = ``sweep_best_on``. Evaluation: ``num_sequences`` sequences from ``eval_seed``.
    """

    methods: list = _rule(["lora", "soft_prompt_2", "soft_prompt_50", "full_finetune"])
    degree: int = _rule(5, ge=0, le=30)
    fixed_coefficients: list = _rule([0, 1, 3, 5])
    seed: int = _rule(2, ge=0)
    lora_rank: int = _rule(4, gt=0)
    lora_alpha: float = _rule(16.0, gt=0)
    full_finetune_lr: float = _rule(1e-4, gt=0, le=10)
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep_pairs: int = _rule(50, gt=0)
    sweep_fixed_coefficients: int = _rule(0, ge=0)
    sweep_lrs: list = _rule([0.5, 0.05, 0.005, 0.0005, 5e-05, 5e-06, 5e-07])
    sweep_best_on: int = _rule(5, ge=0)
    eval_seed: int = _rule(20240730, ge=0)
    num_sequences: int = _rule(10000, gt=1)
    batch_size: int = _rule(500, gt=0)
    headline_examples: list = _rule([5, 10, 30])
    ridge: float = _rule(0.2, gt=0)

    def check(self, key: str) -> None:
        self.train.check(f"{key}.train")
        for method in self.methods:
            if method not in ("lora", "full_finetune") and not re.fullmatch(r"soft_prompt_[1-9]\d*", method):
                raise ParamsError(
                    f"{key}.methods has {method!r}: allowed lora, full_finetune and soft_prompt_<P> (P pairs, P >= 1)"
                )
        for k in self.fixed_coefficients + [self.sweep_fixed_coefficients, self.sweep_best_on]:
            if not isinstance(k, int) or not 0 <= k <= self.degree + 1:
                raise ParamsError(f"{key}: fixed coefficients {k!r} out of range: allowed 0..{self.degree + 1} (degree + 1)")
        if not self.sweep_lrs or not all(isinstance(lr, (int, float)) and 0 < lr <= 10 for lr in self.sweep_lrs):
            raise ParamsError(f"{key}.sweep_lrs = {self.sweep_lrs!r}: give learning rates in (0, 10]")
        if any(n >= self.train.curriculum.points_end for n in self.headline_examples):
            raise ParamsError(f"{key}.headline_examples = {self.headline_examples!r}: each below the "
                              f"{self.train.curriculum.points_end} points of {key}.train.curriculum.points_end")


@dataclass
class Params:
    """All of params.yaml."""

    seed: int = _rule(0, ge=0)
    threads: int = _rule(2, gt=0)
    model: ModelConfig = field(default_factory=ModelConfig)
    model_sizes: dict = _rule({})
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    figures: FiguresConfig = field(default_factory=FiguresConfig)
    seed_spread: SeedSpreadConfig = field(default_factory=SeedSpreadConfig)
    clamping: ClampingConfig = field(default_factory=ClampingConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    evaluate_align: EvaluateAlignConfig = field(default_factory=EvaluateAlignConfig)
    jailbreak: JailbreakConfig = field(default_factory=JailbreakConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    def check(self, key: str = "") -> None:
        self.model.check("model")
        sizes = {}  # more base models for the model-size study; max_points defaults to model's
        for name, size in self.model_sizes.items():
            if not isinstance(size, dict):
                raise ParamsError(f"model_sizes.{name} must be a mapping of n_embd, n_layer, n_head")
            sizes[name] = build_config(ModelConfig, {"max_points": self.model.max_points, **size}, f"model_sizes.{name}")
            sizes[name].check(f"model_sizes.{name}")
        self.model_sizes = sizes
        self.pretrain.check("pretrain")
        self.evaluate.check("evaluate")
        self.seed_spread.check("seed_spread")
        self.clamping.check("clamping")
        self.align.check("align")
        self.jailbreak.check("jailbreak")
        self.finetune.check("finetune")
        longest_prompt = max([self.finetune.sweep_pairs] + [int(m.rsplit("_", 1)[1]) for m in self.finetune.methods
                                                             if m.startswith("soft_prompt_")])
        points = self.finetune.train.curriculum.points_end
        if 2 * longest_prompt + 2 * points > 2 * self.model.max_points:
            raise ParamsError(
                f"a {longest_prompt}-pair soft prompt ({2 * longest_prompt} tokens) and {points} points "
                f"({2 * points} tokens) do not fit the model's {2 * self.model.max_points} positions: "
                "use fewer pairs or points, or raise model.max_points"
            )
        longest = self.model.max_points - 1  # context lengths leave one position for the query
        for name, n in [("jailbreak.contexts", n) for n in self.jailbreak.contexts] + [
            ("evaluate_align.headline_examples", n) for n in self.evaluate_align.headline_examples
        ]:
            if not isinstance(n, int) or not 0 <= n <= longest:
                raise ParamsError(
                    f"{name} has {n!r}: a context of n examples plus the query needs n + 1 points; "
                    f"allowed 0..{longest} (model.max_points - 1)"
                )
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
            ("pretrain.progress.points", self.pretrain.progress.points),
            ("align.train.curriculum.points_end", self.align.train.curriculum.points_end),
            ("align.train.curriculum.final_points", self.align.train.curriculum.final_points),
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


def build_config(cls: type, data: Any, key: str) -> Any:
    """A config dataclass from a mapping, every key and value checked (see module docstring)."""
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
            values[name] = build_config(hint, value, full)
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
    params = build_config(Params, data, "")
    params.check()
    return params


def _read_yaml(path: Path, missing: str) -> dict:
    if not path.exists():
        raise ParamsError(f"{path} not found: {missing}")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ParamsError(f"{path} is not valid YAML: {error}") from None


def read_set(name: str) -> dict:
    """The named parameter set ``configs/NAME.yaml`` (a partial params mapping)."""
    path = Path("configs") / f"{name}.yaml"
    names = ", ".join(sorted(p.stem for p in Path("configs").glob("*.yaml")))
    return _read_yaml(path, f"no parameter set {name!r} (sets: {names})")


def load_params(path: str | Path = "params.yaml", set_name: str | None = None) -> Params:
    """Read and validate ``path``, with the named set ``set_name`` merged over it if given; a
    :class:`ParamsError` says what is wrong and where."""
    path = Path(path)
    data = _read_yaml(path, "run from the repository root, where params.yaml lives")
    where = f"{path} with configs/{set_name}.yaml" if set_name else str(path)
    try:
        return params_from_dict(merge(data, read_set(set_name)) if set_name else data)
    except ParamsError as error:
        raise ParamsError(f"{where}: {error}") from None


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
        merged = merge(yaml.safe_load(Path(args.params).read_text()), read_set(args.set))
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
