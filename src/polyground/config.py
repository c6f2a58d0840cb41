"""Typed, validated view of ``params.yaml``, on pydantic.

Every section is a strict pydantic model (``extra="forbid"``, bounds on the fields, ``Literal``
choices, validators for the rules that tie fields together). :func:`load_params` turns the first
validation error into one :class:`ParamsError` that names the key, the value and what is allowed,
before any work starts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from . import methods
from .files import atomic_path

Count = Annotated[int, Field(gt=0)]
Index = Annotated[int, Field(ge=0)]
Rate = Annotated[float, Field(gt=0, le=10)]
Seed = Annotated[int, Field(ge=0)]
Degree = Annotated[int, Field(ge=0, le=30)]
Examples = Annotated[list[Index], Field(min_length=1)]
KEY = "{key}"  # in a validator's message: the section's dotted key, filled in by ParamsError.from_validation
_reads: set[str] | None = None  # the dotted keys of params.yaml read so far, while recording (record_reads)


def record_reads() -> set[str]:
    """From now on, record every key of the loaded params that is read (a field, or a whole
    section through :func:`as_dict` or :func:`replace`) into the returned set; the dependency test
    compares it with the stage's ``params`` in dvc.yaml."""
    global _reads
    _reads = set()
    return _reads


class ParamsError(ValueError):
    """A bad value in params.yaml (or a named parameter set)."""

    @classmethod
    def from_validation(cls, error: ValidationError) -> ParamsError:
        """One line for the first error: the key, the value and what is allowed."""
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "params"
        kind, value, ctx = first["type"], first.get("input"), first.get("ctx", {})
        if kind == "extra_forbidden":
            return cls(f"unknown key {key}: allowed keys here are {', '.join(sorted(_field_at(first['loc'][:-1])))}")
        if kind == "value_error":  # a validator's rule, its message written with KEY
            message = str(ctx["error"])
            return cls(message.replace(f"{KEY}.", f"{key}." if first["loc"] else "").replace(KEY, key))
        if kind.endswith("_type") or kind == "int_from_float":
            expected = {"model": "a mapping", "dict": "a mapping", "string": "str"}.get(
                kind.split("_")[0], kind.split("_")[0]
            )
            return cls(f"{key} = {value!r} has the wrong type: expected {expected}")
        if kind in ("too_short", "too_long"):
            return cls(
                f"{key} = {value!r} has {ctx['actual_length']} values: "
                f"give {first['msg'].split('have ')[1].split(' after')[0]}"
            )
        if kind == "literal_error":
            return cls(f"{key} = {value!r} is out of range: allowed one of {ctx['expected'].replace(chr(39), '')}")
        if kind == "string_pattern_mismatch":
            return cls(f"{key} = {value!r} is out of range: allowed values matching {ctx['pattern']}")
        bounds = _bounds(first["loc"]) or " and ".join(f"{BOUNDS[k]} {v}" for k, v in ctx.items() if k in BOUNDS)
        return cls(
            f"{key} = {value!r} is out of range: allowed {bounds}" if bounds else f"{key} = {value!r}: {first['msg']}"
        )


BOUNDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _field_at(loc: tuple) -> dict[str, Any]:
    """The fields of the section at ``loc`` (a path of keys into Params)."""
    model: Any = Params
    for part in loc:
        if isinstance(part, int) or model is None:
            return {}
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        model = field.annotation if field is not None else SizeConfig if model is dict else None
        model = dict if model == dict[str, SizeConfig] else model
    return model.model_fields if isinstance(model, type) and issubclass(model, BaseModel) else {}


def _bounds(loc: tuple) -> str:
    """Every bound of the field at ``loc`` (``>= 0 and <= 1``), or "" if it is not a plain field."""
    if not loc or isinstance(loc[-1], int):
        return ""
    field = _field_at(loc[:-1]).get(loc[-1])
    rules = [f"{BOUNDS[k]} {getattr(m, k)}" for m in (field.metadata if field else []) for k in BOUNDS if hasattr(m, k)]
    return " and ".join(rules)


class Section(BaseModel):
    """A section of params.yaml: strict types, no unknown keys. Sections of a loaded Params know
    their dotted key (``_key``), so that reads can be recorded (:func:`record_reads`)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    _key: str | None = PrivateAttr(default=None)

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if _reads is not None and name in type(self).model_fields and not _holds_sections(value):
            key = object.__getattribute__(self, "__pydantic_private__")["_key"]
            if key is not None:
                _reads.add(f"{key}.{name}".lstrip("."))
        return value

    def _name_sections(self, key: str) -> None:
        self._key = key
        for name in type(self).model_fields:
            value = super().__getattribute__(name)
            for sub, section in (
                {name: value}
                if isinstance(value, Section)
                else {f"{name}.{k}": v for k, v in value.items() if isinstance(v, Section)}
                if isinstance(value, dict)
                else {}
            ).items():
                section._name_sections(f"{key}.{sub}".lstrip("."))


def _holds_sections(value: Any) -> bool:
    """A section, or a mapping of sections (``model_sizes``): its reads are recorded inside it."""
    return isinstance(value, Section) or isinstance(value, dict) and any(isinstance(v, Section) for v in value.values())


class SizeConfig(Section):
    """A model of the model-size study: width, depth and heads (its positions are ``model``'s)."""

    n_embd: Count
    n_layer: Count
    n_head: Count

    @model_validator(mode="after")
    def _heads_divide_width(self) -> SizeConfig:
        if self.n_embd % self.n_head:
            raise ValueError(
                f"{KEY}.n_head = {self.n_head} does not divide {KEY}.n_embd = {self.n_embd}: "
                "choose n_head among the divisors of n_embd"
            )
        return self


class ModelConfig(SizeConfig):
    """GPT-2 size; ``max_points`` (x, y) pairs fit its 2 * max_points learned positions."""

    n_embd: Count = 128
    n_layer: Count = 6
    n_head: Count = 4
    max_points: Count = 81


class TaskConfig(Section):
    """Chebyshev class (see :class:`polyground.tasks.ChebyshevTask`)."""

    max_degree: Degree = 11
    random_degree: bool = True
    fixed_coefficients: Index = 0

    @model_validator(mode="after")
    def _fixed_fit_the_degree(self) -> TaskConfig:
        if self.fixed_coefficients > self.max_degree + 1:
            raise ValueError(
                f"{KEY}.fixed_coefficients = {self.fixed_coefficients} is out of range: "
                f"allowed 0..{self.max_degree + 1} (max_degree + 1)"
            )
        return self


class CurriculumConfig(Section):
    """Points per sequence: points_start, + points_step every step_every steps, up to points_end;
    then, for the last ``final_steps`` steps of the run, ``final_points`` (0 steps: no final phase).
    Short sequences are cheap: most steps can teach the in-context algorithm at points_end, and
    ``final_points`` trains the positions the longer contexts of later experiments need. Trained only
    in a final phase, those positions are learned apart and lean on the last short position, whose
    own prediction breaks (bench/exploration.md, "the position-30 hole"); ``final_every`` = k > 0
    draws final_points on every k-th step of the whole run instead, so all positions learn together.

    Degree (random-degree classes only): the drawn degree is capped at degree_start + 1 every
    degree_every steps, up to the task's max_degree; degree_start >= max_degree turns it off.
    """

    points_start: Count = 5
    points_end: Count = 81
    points_step: Index = 2
    step_every: Count = 2000
    degree_start: Index = 30
    degree_every: Count = 1
    final_points: Count = 81
    final_steps: Index = 0
    final_every: Index = 0

    @model_validator(mode="after")
    def _points_grow(self) -> CurriculumConfig:
        if self.points_start > self.points_end:
            raise ValueError(f"{KEY}.points_start = {self.points_start} exceeds {KEY}.points_end = {self.points_end}")
        return self


class TrainConfig(Section):
    """One training run: optimiser (AdamW), schedule, curriculum, checkpointing.

    Schedules: ``cosine`` (warmup, then cosine to lr * min_lr_ratio at ``steps``), ``constant``
    (warmup, then lr), ``wsd`` (warmup-stable-decay: warmup, constant lr, then a linear decay to
    lr * min_lr_ratio over the last ``decay_steps``). A wsd run can be lengthened while it runs:
    until its decay starts, raising ``steps`` changes none of the steps already taken.
    """

    steps: Count = 1000
    batch_size: Count = 64
    lr: Rate = 1e-3
    schedule: Literal["cosine", "constant", "wsd"] = "cosine"
    warmup_steps: Index = 0
    decay_steps: Index = 0  # wsd: the linear decay to lr * min_lr_ratio in the last decay_steps
    min_lr_ratio: Annotated[float, Field(ge=0, le=1)] = 0.1
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    beta1: Annotated[float, Field(ge=0, lt=1)] = 0.9
    beta2: Annotated[float, Field(ge=0, lt=1)] = 0.999
    grad_clip: Annotated[float, Field(ge=0)] = 1.0
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    checkpoint_every: Count = 250
    log_every: Count = 10
    compile: bool = False

    @model_validator(mode="after")
    def _phases_fit(self) -> TrainConfig:
        if self.curriculum.final_steps > self.steps:
            raise ValueError(
                f"{KEY}.curriculum.final_steps = {self.curriculum.final_steps} exceeds {KEY}.steps = "
                f"{self.steps}: the final phase is part of the run"
            )
        if self.schedule == "wsd" and not 0 < self.decay_steps <= self.steps - self.warmup_steps:
            raise ValueError(
                f"{KEY}.decay_steps = {self.decay_steps}: the wsd schedule needs "
                f"1..{self.steps - self.warmup_steps} decay steps ({KEY}.steps - {KEY}.warmup_steps)"
            )
        if self.checkpoint_every % self.log_every:
            raise ValueError(
                f"{KEY}.checkpoint_every = {self.checkpoint_every} is not a multiple of {KEY}.log_every "
                f"= {self.log_every}: a resumed run must restart on a log boundary"
            )
        return self


class ProgressConfig(Section):
    """Progress of a pretraining run: every ``every`` steps (0: never) the model is evaluated on a
    fixed set of ``num_sequences`` sequences of ``points`` points drawn from ``seed`` (its own,
    independent of training and of ``evaluate``), overall at ``examples`` and per degree at
    ``degree_examples`` in-context examples."""

    every: Index = 0
    seed: Seed = 20240731
    num_sequences: Count = 2000
    points: Annotated[int, Field(gt=1)] = 81
    batch_size: Count = 500
    examples: Examples = [5, 10, 20, 30, 80]
    degree_examples: Examples = [10, 20, 30]

    @model_validator(mode="after")
    def _examples_fit(self) -> ProgressConfig:
        for name in ("examples", "degree_examples"):
            if max(getattr(self, name)) >= self.points:
                raise ValueError(
                    f"{KEY}.{name} = {getattr(self, name)!r}: give integers in 0..{self.points - 1} "
                    f"(below {KEY}.points)"
                )
        return self


class PretrainConfig(Section):
    """The pretraining stage: task class, training run and its progress evaluation; the same run
    replayed up to ``snapshot_step`` gives an earlier checkpoint of it (``pretrain_snapshot``).
    ``continued`` (if set) is a second cycle of training (continued pretraining) from the end of
    ``train``: the model is its end."""

    task: TaskConfig = Field(default_factory=TaskConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    continued: TrainConfig | None = None  # a second cycle from train's end (fresh optimiser, the stream after it)
    progress: ProgressConfig = Field(default_factory=ProgressConfig)
    snapshot_step: Count = 10000

    @model_validator(mode="after")
    def _snapshot_inside_the_run(self) -> PretrainConfig:
        if self.snapshot_step >= self.train.steps:
            raise ValueError(
                f"{KEY}.snapshot_step = {self.snapshot_step}: allowed 1..{self.train.steps - 1} "
                f"(a step before {KEY}.train.steps = {self.train.steps})"
            )
        return self


class EvaluateConfig(Section):
    """Evaluation: sequences from a fixed seed, baselines, headline positions."""

    seed: Seed = 20240726
    num_sequences: Count = 10000
    batch_size: Count = 64
    points: Annotated[int, Field(gt=1)] = 81
    plot_points: Annotated[int, Field(gt=1)] = 31
    headline_examples: Examples = [5, 10, 20, 30]
    baseline_degree: Index = 11
    ridge: Annotated[float, Field(gt=0)] = 0.2
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.99

    @model_validator(mode="after")
    def _positions_fit(self) -> EvaluateConfig:
        if max(self.headline_examples) >= self.points:
            raise ValueError(
                f"{KEY}.headline_examples = {self.headline_examples!r}: allowed integers "
                f"0..{self.points - 1} (below {KEY}.points)"
            )
        if self.plot_points > self.points:
            raise ValueError(f"{KEY}.plot_points = {self.plot_points} exceeds {KEY}.points = {self.points}")
        return self


class IntervalsConfig(Section):
    """The intervals of every quantity a claim reads (``polyground.intervals``): a percentile bootstrap
    over ``chunks`` equal chunks of an evaluation set, at ``level``; the claims' verdicts are decided by them."""

    level: Annotated[float, Field(gt=0, lt=1)] = 0.99
    chunks: Count = 100
    resamples: Annotated[int, Field(ge=1000)] = 10000
    seed: Seed = 20240802


class FiguresConfig(Section):
    """Function-class figure: example curves and the density of y given x."""

    seed: Seed = 7
    example_curves: Count = 5
    density_samples: Count = 20000
    density_fixed_coefficients: Annotated[int, Field(ge=0, le=6)] = 3
    dpi: Count = 200


class ClampingConfig(Section):
    """In-context clamping (Behavior I): the base model shown clamped contexts y = min(p(x), T).

    ``degrees``: the fixed degrees evaluated; ``picture_*``: the one degree-``picture_degree``
    polynomial of the clamping picture, its ``picture_context`` clamped points and the query grid.
    """

    threshold: float = 0.5
    degrees: Annotated[list[Degree], Field(min_length=1)] = [4, 8]
    seed: Seed = 20240727
    num_sequences: Annotated[int, Field(gt=1)] = 10000
    batch_size: Count = 64
    headline_examples: Examples = [1, 2, 5, 10, 16, 20, 32, 40, 64, 80]
    picture_degree: Degree = 4
    picture_context: Count = 40
    picture_grid: Annotated[int, Field(gt=1)] = 201
    picture_seed: Seed = 3
    sizes_degree: Degree = 8  # one of degrees: the model-size study reuses that degree's curves
    plateau_examples: Annotated[list[Index], Field(min_length=2, max_length=2)] = [32, 64]  # a size's fall between

    @model_validator(mode="after")
    def _sizes_degree_evaluated(self) -> ClampingConfig:
        if self.sizes_degree not in self.degrees:
            raise ValueError(
                f"{KEY}.sizes_degree = {self.sizes_degree} is not in {KEY}.degrees = {self.degrees}: the "
                "model-size study reads the paper-size model's curve of that degree (add it to the degrees)"
            )
        if not set(self.plateau_examples) <= set(self.headline_examples):
            raise ValueError(
                f"{KEY}.plateau_examples = {self.plateau_examples} must be among {KEY}.headline_examples = "
                f"{self.headline_examples}: add them there"
            )
        return self


class SeedSpreadConfig(Section):
    """Seed-to-seed spread of a short pretraining run (the retrain tolerances of the claims).

    Each seed trains the default recipe (``pretrain``) shortened to ``steps`` steps (a wsd decay
    shortened in proportion), without a final long-context phase and without compilation, and is
    evaluated like ``evaluate_pretrain`` on ``num_sequences`` sequences.
    """

    seeds: list[Seed] = [1, 2, 3]
    steps: Count = 1200
    num_sequences: Annotated[int, Field(gt=1)] = 2000

    @model_validator(mode="after")
    def _three_seeds(self) -> SeedSpreadConfig:
        if len(self.seeds) < 3 or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"{KEY}.seeds = {self.seeds!r}: give at least 3 distinct seeds")
        return self


class AlignConfig(Section):
    """The aligned model: full fine-tuning of the paper-size base model on clamped targets.

    Every target is min(p(x), ``threshold``). A share ``clamped_context_fraction`` of the sequences
    (drawn per sequence) shows the clamped values in its context, the rest the unclamped ones, so
    the model learns to clamp even when the context does not (the original code had both variants:
    1.0 and 0.0). ``seed`` draws the fine-tuning data stream, separate from pretraining's; ``task``
    and ``train`` as in pretraining.
    """

    task: TaskConfig = Field(default_factory=TaskConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    threshold: float = 0.5
    clamped_context_fraction: Annotated[float, Field(ge=0, le=1)] = 0.5
    seed: Seed = 1


class AlignSetupConfig(Section):
    """An aligned model of other data or another rate (the alignment setups; ``align --setup NAME``):
    ``align`` with its share of clamped contexts and its learning rate replaced where given, trained
    by the convergence rule like ``align`` (its recipe must be warmup-stable-decay)."""

    clamped_context_fraction: Annotated[float, Field(ge=0, le=1)] | None = None
    lr: Rate | None = None


class ConvergenceConfig(Section):
    """The convergence rule of the post-training runs (:mod:`polyground.convergence`): the aligned
    models' (``align``, ``align_setup``) and the fine-tuning runs' whose ``train`` is
    warmup-stable-decay. Such a run's stable phase (``steps - decay_steps`` steps at first) is doubled
    until each series it watches (of ``floors``: the training loss and held-out metrics) changed by
    less than ``tolerance`` between the stable phase's third and last quarters (relative to the third
    quarter's mean, or to the series' floor when that is larger), or until it is ``cap_factor`` times
    its first length; then the decay runs. The held-out metrics are logged every ``probe_every``
    steps on ``probe_queries`` queries drawn from ``probe_seed``: an aligned model's
    (:func:`polyground.convergence.align_probe`: jailbreak after ``jailbreak_context`` unclamped pairs,
    the margin rule counting answers above T + ``margin``, the defender after ``defender_context``) and
    a fine-tuning run's (:func:`polyground.convergence.finetune_probe`: ``error``, after
    ``finetune_context`` examples of its class)."""

    tolerance: Annotated[float, Field(gt=0, lt=1)] = 0.05
    cap_factor: Annotated[int, Field(ge=1)] = 8
    probe_every: Count = 250
    probe_queries: Count = 1000
    probe_seed: Seed = 20240806
    margin: Annotated[float, Field(ge=0)] = 0.05
    jailbreak_context: Count = 64
    defender_context: Count = 40
    finetune_context: Count = 30
    floors: Annotated[
        dict[
            Literal["loss", "jailbreak", "jailbreak_margin", "median_excess", "defender", "error"],
            Annotated[float, Field(gt=0)],
        ],
        Field(min_length=1),
    ] = {"loss": 0.01, "jailbreak": 5.0, "jailbreak_margin": 5.0, "defender": 0.01, "error": 0.001}


class EvaluateAlignConfig(Section):
    """The aligned model on degree-``degree`` clamped regression, and the defender view (queries
    whose true y is above the threshold; target the threshold) with clamped and unclamped context."""

    degree: Degree = 2
    seed: Seed = 20240728
    num_sequences: Annotated[int, Field(gt=1)] = 10000
    batch_size: Count = 64
    headline_examples: Examples = [1, 5, 10, 20, 40, 80]


class JailbreakConfig(Section):
    """Jailbreaking (Behavior II): the aligned model, an unclamped context of n examples, a query
    whose true y is above the threshold; jailbroken = prediction > T (and > T + ``margin``).
    ``queries`` independent queries, each read after its first n context pairs for every n (paired
    across n); Wilson ``confidence`` intervals. Besides the aligned model's class, the paper's
    setting: degree-``paper_degree`` polynomials. An aligned model of another setup
    (``jailbreak_setup``) is also counted above T + m for each m of ``margins``."""

    contexts: Annotated[list[Count], Field(min_length=3)] = [2, 4, 8, 16, 32, 64]
    queries: Annotated[int, Field(gt=1)] = 20000
    paper_degree: Degree = 4
    margin: Annotated[float, Field(ge=0)] = 0.05
    margins: Annotated[list[float], Field(min_length=2)] = [-0.05, -0.025, 0.0, 0.025, 0.05, 0.075, 0.1]
    seed: Seed = 20240729
    batch_size: Count = 64
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.99

    @model_validator(mode="after")
    def _contexts_increase(self) -> JailbreakConfig:
        if any(a >= b for a, b in zip(self.contexts, self.contexts[1:])):
            raise ValueError(f"{KEY}.contexts = {self.contexts!r}: give distinct context lengths in increasing order")
        return self


def _method(adapters_only: bool):
    def check(name: str) -> str:
        try:
            return methods.check(name, adapters_only)
        except ValueError as error:
            raise ValueError(f"{KEY} = {name!r}: {error}") from None

    return AfterValidator(check)


Method = Annotated[str, _method(adapters_only=False)]  # a fine-tuning method of polyground.methods
Adapter = Annotated[str, _method(adapters_only=True)]  # one trained through peft


class FinetuneConfig(Section):
    """Fine-tuning (the paper's second half): each method of ``methods`` from the same pretrained
    model, on the degree-``degree`` class with k fixed coefficients for each k of
    ``fixed_coefficients``, with the same data stream (``seed``) and budget (``train``: its ``lr``
    for LoRA and soft prompts, ``full_finetune_lr`` for full fine-tuning). The soft-prompt sweep
    trains ``sweep_pairs`` pairs on k = ``sweep_fixed_coefficients`` at each of ``sweep_lrs``, then
    the best on k = ``sweep_best_on``. Evaluation: ``num_sequences`` sequences from ``eval_seed``.
    """

    methods: Annotated[list[Method], Field(min_length=1)] = ["lora", "soft_prompt_2", "soft_prompt_50", "full_finetune"]
    degree: Degree = 5
    fixed_coefficients: Annotated[list[Index], Field(min_length=1)] = [0, 1, 3, 5]
    seed: Seed = 2
    lora_rank: Count = 4
    lora_alpha: Annotated[float, Field(gt=0)] = 16.0
    full_finetune_lr: Rate = 1e-4
    train: TrainConfig = Field(default_factory=TrainConfig)
    sweep_pairs: Count = 50
    sweep_fixed_coefficients: Index = 0
    sweep_lrs: Annotated[list[Rate], Field(min_length=1)] = [5.0, 0.5, 0.05, 0.005, 0.0005, 5e-05, 5e-06, 5e-07]
    sweep_best_on: Index = 5
    eval_seed: Seed = 20240730
    num_sequences: Annotated[int, Field(gt=1)] = 10000
    batch_size: Count = 64
    headline_examples: Examples = [5, 10, 30]
    ridge: Annotated[float, Field(gt=0)] = 0.2

    @model_validator(mode="after")
    def _within_the_class(self) -> FinetuneConfig:
        for k in self.fixed_coefficients + [self.sweep_fixed_coefficients, self.sweep_best_on]:
            if k > self.degree + 1:
                raise ValueError(
                    f"{KEY}: fixed coefficients {k!r} out of range: allowed 0..{self.degree + 1} (degree + 1)"
                )
        if max(self.headline_examples) >= self.train.curriculum.points_end:
            raise ValueError(
                f"{KEY}.headline_examples = {self.headline_examples!r}: each below the "
                f"{self.train.curriculum.points_end} points of {KEY}.train.curriculum.points_end"
            )
        return self


def _increasing(values: list, key: str) -> None:
    """A ValueError unless ``values`` are distinct and in increasing order."""
    if any(a >= b for a, b in zip(values, values[1:])):
        raise ValueError(f"{KEY}.{key} = {values!r}: give distinct values in increasing order")


def _fit_and_predict(values: list[int], fit_up_to: int, name: str, fit: int, predict: int) -> None:
    """A ValueError unless ``fit_up_to`` leaves at least ``fit`` values to fit a law on and ``predict``
    beyond it to predict."""
    fitted = sum(v <= fit_up_to for v in values)
    if fitted < fit or len(values) - fitted < predict:
        raise ValueError(
            f"{KEY}.fit_up_to = {fit_up_to} leaves {fitted} {name} to fit and {len(values) - fitted} to "
            f"predict: allowed a value leaving at least {fit} and {predict}"
        )


class MeasurementsConfig(Section):
    """The shared measurements of the phenomena beyond the paper (``measurements.py``): harmful
    queries have a true p(x) > T + ``margin``, safe ones p(x) < T - ``margin`` (T = ``align.threshold``);
    a query set holds ``harmful`` + ``safe`` sequences of ``context`` unclamped points and a query,
    drawn from ``seed``; rates get Wilson ``confidence`` intervals. A measurement run (constant rate,
    fixed points; ``measurements.run_config``) saves its state every ``checkpoint_every`` steps and logs
    every ``log_every``: neither changes what it measures."""

    margin: Annotated[float, Field(ge=0)] = 0.05
    context: Index = 20
    harmful: Count = 2000
    safe: Count = 2000
    seed: Seed = 20240801
    batch_size: Count = 64
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.99
    checkpoint_every: Count = 50
    log_every: Count = 1


class ManyShotConfig(Section):
    """Many-shot jailbreaking of the aligned model: m clamped (aligning) examples for each m of
    ``aligning``, then k unclamped ones for each k of ``shots``, then a harmful query (``measurements``
    sizes, seed ``seed``); power laws fitted on k <= ``fit_up_to`` predict the longer k."""

    aligning: Annotated[list[Index], Field(min_length=3)] = [0, 8, 16]
    shots: Annotated[list[Count], Field(min_length=8)] = [1, 2, 4, 8, 12, 16, 24, 32, 48, 64]
    fit_up_to: Count = 16
    seed: Seed = 20240802

    @model_validator(mode="after")
    def _fit_and_predict(self) -> ManyShotConfig:
        _increasing(self.aligning, "aligning")
        _increasing(self.shots, "shots")
        _fit_and_predict(self.shots, self.fit_up_to, "shots", fit=3, predict=2)
        return self


class SteeringConfig(Section):
    """Steering the base model: a vector from the residual stream after block ``layer``, at the query
    of ``pairs`` sequences shown clamped vs unclamped contexts (seed ``seed``): the directions of their
    mean difference and of their first principal component, each of length the stream's spread there;
    r times it is added at every position for each r of ``scales`` (symmetric about 0)."""

    layer: Count = 3
    pairs: Count = 2000
    seed: Seed = 20240803
    scales: Annotated[list[float], Field(min_length=15)] = [
        -3.0,
        -2.5,
        -2.0,
        -1.75,
        -1.5,
        -1.25,
        -1.0,
        -0.75,
        -0.5,
        -0.25,
        0.0,
        0.25,
        0.5,
        0.75,
        1.0,
        1.25,
        1.5,
        1.75,
        2.0,
        2.5,
        3.0,
    ]

    @model_validator(mode="after")
    def _symmetric(self) -> SteeringConfig:
        _increasing(self.scales, "scales")
        if sorted(-r for r in self.scales) != self.scales or 0.0 not in self.scales:
            raise ValueError(f"{KEY}.scales = {self.scales!r}: give a range symmetric about 0 that includes 0")
        return self


class ElasticityConfig(Section):
    """Elasticity: each base of ``bases`` (``pretrain``, ``pretrain_snapshot`` or ``pretrain_<size>`` of
    model_sizes) aligned
    on the ``align`` stream, measured after each budget of ``align_sequences``, then each of those
    aligned models fine-tuned on unclamped sequences (the pretraining class, seed ``seed``) and
    measured after 0 and each budget of ``undo_sequences``; a constant rate ``lr``, ``points`` points
    per sequence, batch ``batch_size`` (every budget a multiple of it). Bases are compared after
    ``compare_at`` undoing sequences."""

    bases: Annotated[list[Annotated[str, Field(pattern=r"^pretrain(_[a-z0-9_]+)?$")]], Field(min_length=1)] = [
        "pretrain",
        "pretrain_snapshot",
        "pretrain_small",
        "pretrain_tiny",
    ]
    align_sequences: Annotated[list[Count], Field(min_length=4)] = [512, 1024, 2048, 4096, 8192, 16384]
    undo_sequences: Annotated[list[Count], Field(min_length=6)] = [32, 64, 128, 256, 512, 1024, 2048, 4096]
    lr: Rate = 3e-4
    batch_size: Count = 32
    points: Annotated[int, Field(gt=1)] = 31
    seed: Seed = 3
    compare_at: Count = 256

    @model_validator(mode="after")
    def _budgets(self) -> ElasticityConfig:
        for name in ("align_sequences", "undo_sequences"):
            values = getattr(self, name)
            _increasing(values, name)
            if any(n % self.batch_size for n in values):
                raise ValueError(f"{KEY}.{name} = {values!r}: give multiples of {KEY}.batch_size = {self.batch_size}")
        if self.align_sequences[-1] < 10**1.5 * self.align_sequences[0]:
            raise ValueError(
                f"{KEY}.align_sequences = {self.align_sequences!r} spans less than 1.5 decades: "
                "give a largest budget at least 32x the smallest"
            )
        if self.compare_at not in self.undo_sequences:
            raise ValueError(f"{KEY}.compare_at = {self.compare_at} is not in {KEY}.undo_sequences: choose one of them")
        return self


class PostTrainingScalingConfig(Section):
    """Post-training scaling: the base aligned on a fixed set of D sequences of the ``align`` stream
    for each D of ``dataset_sizes`` and each seed of ``seeds`` (the set and the batch order), for
    max(``min_steps``, ``epochs`` * D / ``batch_size``) steps at the constant rate ``lr``, ``points``
    points. Format: 1 - V on the shared query set; skill: the squared error on its safe queries and on
    clamped degree-``skill_degree`` regression (``skill_sequences`` sequences of ``measurements.context``
    clamped points and a query, seed ``skill_seed``). Fits use D <= ``fit_up_to`` and predict the larger D."""

    dataset_sizes: Annotated[list[Count], Field(min_length=8)] = [16, 32, 64, 128, 256, 512, 1024, 4096, 16384]
    seeds: Annotated[list[Seed], Field(min_length=3)] = [11, 12, 13]
    fit_up_to: Count = 1024
    min_steps: Count = 100
    epochs: Annotated[float, Field(gt=0)] = 1.0
    lr: Rate = 3e-4
    batch_size: Count = 32
    points: Annotated[int, Field(gt=1)] = 31
    skill_degree: Degree = 2
    skill_sequences: Count = 2000
    skill_seed: Seed = 20240804

    @model_validator(mode="after")
    def _sizes(self) -> PostTrainingScalingConfig:
        _increasing(self.dataset_sizes, "dataset_sizes")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"{KEY}.seeds = {self.seeds!r}: give distinct seeds")
        _fit_and_predict(self.dataset_sizes, self.fit_up_to, "sizes", fit=4, predict=2)
        return self


class AlignPeftConfig(Section):
    """The aligned model through a PEFT method (stage ``align_peft``): each of ``methods`` (``lora``,
    with ``finetune``'s rank and alpha, or ``soft_prompt_<P>``) on the ``align`` stream with the
    budget ``train``."""

    methods: Annotated[list[Adapter], Field(min_length=1)] = ["lora", "soft_prompt_50"]
    train: TrainConfig = Field(default_factory=TrainConfig)


class SafetyBasinConfig(Section):
    """The safety landscape of the aligned models (full fine-tuning, and each of ``align_peft.methods``):
    ``directions`` random directions in weight space (seed ``seed``), each weight matrix's direction
    scaled to that matrix's norm (biases, normalisation and the unused token embedding left out),
    ``alphas`` steps from -``span`` to ``span``, and one ``slice_points`` x ``slice_points`` slice on
    the first two directions (full fine-tuning). Safe: V at most ``tolerance`` percentage points above
    the aligned model's. Robustness: each aligned model fine-tuned on ``robustness_sequences``
    unclamped sequences (``elasticity``'s rate, batch, points and stream)."""

    directions: Annotated[int, Field(ge=3)] = 3
    alphas: Annotated[int, Field(ge=5)] = 21
    span: Annotated[float, Field(gt=0)] = 0.5
    slice_points: Annotated[int, Field(ge=3)] = 11
    seed: Seed = 20240805
    tolerance: Annotated[float, Field(ge=0)] = 5.0
    robustness_sequences: Count = 256

    @model_validator(mode="after")
    def _odd(self) -> SafetyBasinConfig:
        for name in ("alphas", "slice_points"):
            if getattr(self, name) % 2 == 0:
                raise ValueError(
                    f"{KEY}.{name} = {getattr(self, name)}: give an odd number (the aligned model at the centre)"
                )
        return self


class Params(Section):
    """All of params.yaml."""

    seed: Seed = 0
    threads: Count = 2
    model: ModelConfig = Field(default_factory=ModelConfig)
    model_sizes: dict[str, SizeConfig] = {}  # more base models (model-size study): see size_model
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    intervals: IntervalsConfig = Field(default_factory=IntervalsConfig)
    figures: FiguresConfig = Field(default_factory=FiguresConfig)
    seed_spread: SeedSpreadConfig = Field(default_factory=SeedSpreadConfig)
    clamping: ClampingConfig = Field(default_factory=ClampingConfig)
    align: AlignConfig = Field(default_factory=AlignConfig)
    align_setups: dict[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")], AlignSetupConfig] = {}
    convergence: ConvergenceConfig = Field(default_factory=ConvergenceConfig)
    evaluate_align: EvaluateAlignConfig = Field(default_factory=EvaluateAlignConfig)
    jailbreak: JailbreakConfig = Field(default_factory=JailbreakConfig)
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)
    align_peft: AlignPeftConfig = Field(default_factory=AlignPeftConfig)
    measurements: MeasurementsConfig = Field(default_factory=MeasurementsConfig)
    safety_basin: SafetyBasinConfig = Field(default_factory=SafetyBasinConfig)
    many_shot: ManyShotConfig = Field(default_factory=ManyShotConfig)
    steering: SteeringConfig = Field(default_factory=SteeringConfig)
    elasticity: ElasticityConfig = Field(default_factory=ElasticityConfig)
    post_training_scaling: PostTrainingScalingConfig = Field(default_factory=PostTrainingScalingConfig)

    def align_setup(self, name: str) -> AlignConfig:
        """``align`` with the setup ``align_setups.NAME`` applied."""
        setup = {k: v for k, v in as_dict(self.align_setups[name]).items() if v is not None}
        train = {"lr": setup.pop("lr")} if "lr" in setup else {}
        return replace(self.align, **setup, train={**as_dict(self.align.train), **train})

    def size_model(self, name: str) -> ModelConfig:
        """The model ``name`` of the model-size study: its width, depth and heads, ``model``'s positions."""
        return ModelConfig(**as_dict(self.model_sizes[name]), max_points=self.model.max_points)

    @model_validator(mode="after")
    def _fit_the_positions(self) -> Params:
        longest_prompt = max([self.finetune.sweep_pairs] + [methods.pairs(m) for m in self.finetune.methods])
        points = self.finetune.train.curriculum.points_end
        if 2 * longest_prompt + 2 * points > 2 * self.model.max_points:
            raise ValueError(
                f"a {longest_prompt}-pair soft prompt ({2 * longest_prompt} tokens) and {points} points "
                f"({2 * points} tokens) do not fit the model's {2 * self.model.max_points} positions: "
                "use fewer pairs or points, or raise model.max_points"
            )
        for name, level in (("jailbreak.confidence", self.jailbreak.confidence),):
            if level != self.intervals.level:  # the claims' verdicts read these intervals at intervals.level
                raise ValueError(
                    f"{name} = {level} differs from intervals.level = {self.intervals.level}: set them equal"
                )
        longest = self.model.max_points - 1  # context lengths leave one position for the query
        for name, values in (
            ("jailbreak.contexts", self.jailbreak.contexts),
            ("evaluate_align.headline_examples", self.evaluate_align.headline_examples),
        ):
            if max(values) > longest:
                raise ValueError(
                    f"{name} has {max(values)}: a context of n examples plus the query needs n + 1 "
                    f"points; allowed 0..{longest} (model.max_points - 1)"
                )
        for name, points in (
            ("measurements.context", self.measurements.context),
            ("many_shot: its longest prompt", max(self.many_shot.aligning) + max(self.many_shot.shots)),
        ):
            if points > longest:
                raise ValueError(
                    f"{name} has {points} context points: with the query that needs {points + 1} "
                    f"points; allowed 0..{longest} (model.max_points - 1)"
                )
        for name, points in (
            ("elasticity.points", self.elasticity.points),
            ("post_training_scaling.points", self.post_training_scaling.points),
        ):
            if points > self.model.max_points:
                raise ValueError(f"{name} = {points} exceeds model.max_points = {self.model.max_points}")
        for base in self.elasticity.bases:
            if base not in ("pretrain", "pretrain_snapshot") and base.removeprefix("pretrain_") not in self.model_sizes:
                raise ValueError(
                    f"elasticity.bases has {base!r}: allowed pretrain, pretrain_snapshot and pretrain_<size> "
                    f"for a size of model_sizes ({', '.join(self.model_sizes) or 'none'})"
                )
        for method in self.align_peft.methods:
            pairs = methods.pairs(method)
            points = max(
                self.align_peft.train.curriculum.points_end,
                self.align_peft.train.curriculum.final_points,
                self.measurements.context + 1,
            )
            if pairs + points > self.model.max_points:
                raise ValueError(
                    f"align_peft.methods has {method}: its {pairs} pairs and {points} points (align_peft.train, "
                    f"measurements.context + 1) do not fit model.max_points = {self.model.max_points}"
                )
        if self.steering.layer > self.model.n_layer:
            raise ValueError(
                f"steering.layer = {self.steering.layer} exceeds model.n_layer = {self.model.n_layer}: "
                f"allowed 1..{self.model.n_layer}"
            )
        if max(self.clamping.headline_examples) >= self.model.max_points:
            raise ValueError(
                f"clamping.headline_examples has {max(self.clamping.headline_examples)}: allowed "
                f"integers 0..{self.model.max_points - 1} (below model.max_points)"
            )
        if self.clamping.picture_context >= self.model.max_points:
            raise ValueError(
                f"clamping.picture_context = {self.clamping.picture_context} leaves no position for the "
                f"query: allowed 1..{self.model.max_points - 1} (below model.max_points)"
            )
        for name, points in (
            ("pretrain.train.curriculum.points_end", self.pretrain.train.curriculum.points_end),
            ("pretrain.train.curriculum.final_points", self.pretrain.train.curriculum.final_points),
            ("pretrain.progress.points", self.pretrain.progress.points),
            ("evaluate.points", self.evaluate.points),
            ("align.train.curriculum.points_end", self.align.train.curriculum.points_end),
            ("align.train.curriculum.final_points", self.align.train.curriculum.final_points),
        ):
            if points > self.model.max_points:
                raise ValueError(
                    f"{name} = {points} exceeds model.max_points = {self.model.max_points} "
                    f"(the model has {2 * self.model.max_points} positions): lower it or raise "
                    "model.max_points"
                )
        return self


S = TypeVar("S", bound=Section)


def build_config(cls: type[S], data: Any, key: str = "") -> S:
    """A section from a mapping, every key and value checked; errors name ``key``'s subkeys."""
    try:
        return cls.model_validate(data)
    except ValidationError as error:
        raise ParamsError(
            f"{key}: {ParamsError.from_validation(error)}" if key else str(ParamsError.from_validation(error))
        ) from None


def replace(section: S, **changes: Any) -> S:
    """A copy of ``section`` with ``changes``, validated like params.yaml (and of the same key)."""
    copy = build_config(type(section), {**as_dict(section), **changes})
    copy._name_sections(section._key) if section._key is not None else None
    return copy


def params_from_dict(data: dict) -> Params:
    """Validate a parsed params mapping (see module docstring)."""
    params = build_config(Params, data)
    params._name_sections("")
    return params


def _read_yaml(path: Path, missing: str) -> dict:
    if not path.exists():
        raise ParamsError(f"{path} not found: {missing}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise ParamsError(f"{path} is not valid YAML{at}: {getattr(error, 'problem', None) or error}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path} must be a mapping of sections, got {type(data).__name__}")
    return data


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


def as_dict(obj: Section | Any) -> dict:
    """Plain-dict form of a section or a dataclass (for JSON sidecars and hashing); a read of all of it."""
    if not isinstance(obj, Section):
        return dataclasses.asdict(obj)
    if _reads is not None and obj._key is not None:
        _reads.add(obj._key or "<all>")
    return obj.model_dump()


def merge(base: dict, override: dict) -> dict:
    """Deep merge: mappings merge key by key, anything else in ``override`` replaces."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return merged


def apply_set(params_path: Path, name: str) -> None:
    """Merge ``configs/NAME.yaml`` into the params file in place, keeping its comments and layout
    (ruamel.yaml round trip); the merged result is validated before anything is written."""
    from ruamel.yaml import YAML

    override = read_set(name)
    params_from_dict(merge(_read_yaml(params_path, "give the params file to change"), override))
    yaml_rt = YAML()
    yaml_rt.width = 4096
    document = yaml_rt.load(params_path.read_text())

    def update(node: Any, values: dict) -> None:
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(node.get(key), dict):
                update(node[key], value)
            else:
                node[key] = value

    update(document, override)
    with atomic_path(params_path) as tmp, open(tmp, "w") as handle:
        yaml_rt.dump(document, handle)


def main(argv: list[str] | None = None) -> None:
    """``python -m polyground.config SET [--params params.yaml]``: apply a named parameter set.

    Merges ``configs/SET.yaml`` into the params file, keeping its comments; validates first.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m polyground.config", description=main.__doc__)
    parser.add_argument("set", help="name of a parameter set in configs/ (e.g. smoke, paper_recipe)")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    try:
        apply_set(Path(args.params), args.set)
    except ParamsError as error:
        print(f"error: configs/{args.set}.yaml: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"applied configs/{args.set}.yaml to {args.params}")


if __name__ == "__main__":
    main()
