"""Every path the stages write under models/, logs/, metrics/ and figures/, named once. dvc.yaml
declares the same paths as its stages' outputs (tests/test_paths.py checks that the two agree)."""

from __future__ import annotations

from pathlib import Path

MODELS_DIR, LOGS_DIR, METRICS_DIR, FIGURES_DIR = Path("models"), Path("logs"), Path("metrics"), Path("figures")


def base_model(name: str) -> Path:
    """A base model: ``pretrain``, ``pretrain_snapshot`` or ``pretrain_<size>`` of ``model_sizes``
    (stages pretrain, pretrain_snapshot, pretrain_size)."""
    return MODELS_DIR / name


PRETRAIN = base_model("pretrain")  # the base model of the paper's size (stage pretrain)
ALIGN = MODELS_DIR / "align"  # the aligned model, full fine-tuning (stage align)
SOFT_PROMPT_BEST = (
    MODELS_DIR / "soft_prompt_best"
)  # the sweep's best rate on k = sweep_best_on (stage soft_prompt_best)


def setup_aligned_model(setup: str) -> Path:
    """The aligned model of a setup of ``align_setups`` (stage align_setup)."""
    return MODELS_DIR / "align_setups" / setup


def peft_aligned_model(method: str) -> Path:
    """The aligned model through a PEFT method of ``align_peft.methods`` (stage align_peft)."""
    return MODELS_DIR / "align_peft" / method


def finetune_model(method: str, k: int) -> Path:
    """A fine-tuning method on the class with ``k`` fixed coefficients (stage finetune)."""
    return MODELS_DIR / "finetune" / f"{method}_k{k}"


def sweep_model(lr: float) -> Path:
    """The soft prompt of the learning-rate sweep at rate ``lr`` (stage soft_prompt_sweep)."""
    return MODELS_DIR / "soft_prompt_sweep" / f"lr_{lr}"


def training_log(model: Path) -> Path:
    """The training loss of a model of ``models/`` (the stage that trains it)."""
    return LOGS_DIR / f"{model.relative_to(MODELS_DIR)}.csv"


def progress_log(model: Path) -> Path:
    """The held-out evaluations along a model's training (the stage that trains it)."""
    return LOGS_DIR / f"{model.relative_to(MODELS_DIR)}_progress.csv"


def metrics_json(name: str) -> Path:
    """The metrics of stage ``name`` or ``evaluate_<name>``."""
    return METRICS_DIR / f"{name}.json"


def metrics_csv(name: str) -> Path:
    """A table or curves of stage ``name`` or ``evaluate_<name>`` (``model_sizes_above``: evaluate_model_sizes)."""
    return METRICS_DIR / f"{name}.csv"


def jailbreak_setup_metrics(setup: str) -> Path:
    """A setup of ``align_setups`` jailbroken beside the aligned model (stage jailbreak_setup)."""
    return METRICS_DIR / "jailbreak_setups" / f"{setup}.json"


PRETRAIN_CURVE = metrics_csv("pretrain_curve")  # the base model's error curves (stage evaluate_pretrain)
CLAMPING_CURVES = METRICS_DIR / "clamping"  # the in-context clamping curves (stage evaluate_clamping)
CLAMPING_PICTURE = CLAMPING_CURVES / "picture.csv"  # one clamped polynomial, predicted (stage evaluate_clamping)
ALIGN_CURVES = METRICS_DIR / "align"  # the aligned model's curves (stage evaluate_align)
CLAMPED_REGRESSION = ALIGN_CURVES / "clamped_regression.csv"  # clamped regression (stage evaluate_align)
DEFENDER = ALIGN_CURVES / "defender.csv"  # the defender view (stage evaluate_align)
FINETUNE_SUMMARY = METRICS_DIR / "finetune_summary.md"  # method x k as a table (stage evaluate_finetune)
CHUNKS = METRICS_DIR / "chunks"  # per evaluation stage, the chunk means its intervals are computed from


def clamping_curves(degree: int, suffix: str = "") -> Path:
    """The clamping curves at a degree; ``suffix`` ``_above``: the paper's view (stage evaluate_clamping)."""
    return CLAMPING_CURVES / f"degree_{degree}{suffix}.csv"


def finetune_curves(k: int) -> Path:
    """Every fine-tuning method's curves with ``k`` fixed coefficients (stage evaluate_finetune)."""
    return METRICS_DIR / "finetune" / f"k{k}.csv"


def chunks_path(stage: str) -> Path:
    """The chunk means of an evaluation stage (``polyground.intervals``)."""
    return CHUNKS / f"{stage}.json"


def figure(name: str) -> Path:
    """A figure's stem: ``<stem>.png`` and ``<stem>.pdf`` (stages figures, pretrain_progress,
    phenomena_figure, jailbreak_setup)."""
    return FIGURES_DIR / name
