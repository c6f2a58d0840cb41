"""polyground.paths and dvc.yaml name the same outputs: every path that paths.py names, for the
default params.yaml, is an output that a stage of dvc.yaml declares (outs, metrics or plots, with
``foreach`` and ``matrix`` expanded by DVC), lies in a declared directory or holds declared outputs;
and every declared output under models/, logs/, metrics/ and figures/ is named by paths.py."""

from __future__ import annotations

import inspect
from functools import cache
from pathlib import Path

from dvc.repo import Repo

from conftest import ROOT
from polyground import paths
from polyground.config import load_params

PHENOMENA = ["elasticity", "safety_basin", "steering", "many_shot", "post_training_scaling"]
EVALUATIONS = ["pretrain", "clamping", "model_sizes", "align", "soft_prompt_sweep", "finetune"]  # with chunk means
FIGURES = [
    *("function_class", "pretrain_vs_baselines", "in_context_clamping", "clamping_picture", "model_sizes"),
    *("aligned_model", "jailbreak", "jailbreak_normal_x_ablation", "jailbreak_paper_degree"),
    *("finetune_fixed_coefficients", "soft_prompt_lr_sweep", "pretrain_progress", *PHENOMENA),
]


def arguments() -> dict:
    """Each function of paths.py but the logs', with the arguments that params.yaml gives it."""
    params = load_params(ROOT / "params.yaml")
    finetune, setups = params.finetune, list(params.align_setups)
    return {
        paths.base_model: ["pretrain", "pretrain_snapshot", *(f"pretrain_{size}" for size in params.model_sizes)],
        paths.setup_aligned_model: setups,
        paths.peft_aligned_model: params.align_peft.methods,
        paths.finetune_model: [(m, k) for m in finetune.methods for k in finetune.fixed_coefficients],
        paths.sweep_model: finetune.sweep_lrs,
        paths.metrics_json: [*EVALUATIONS, "seed_spread", "jailbreak", "soft_prompt_sweep_best", *PHENOMENA],
        paths.metrics_csv: ["pretrain_curve", "model_sizes", "model_sizes_above", "jailbreak", "soft_prompt_sweep"]
        + PHENOMENA,
        paths.jailbreak_setup_metrics: setups,
        paths.clamping_curves: [(degree, view) for degree in params.clamping.degrees for view in ("", "_above")],
        paths.finetune_curves: finetune.fixed_coefficients,
        paths.chunks_path: EVALUATIONS,
        paths.figure: FIGURES + [f"jailbreak_setup_{setup}" for setup in setups],
    }


@cache
def named() -> list[Path]:
    """Every path paths.py names: its constants, its functions called with their arguments, each
    figure's PNG and PDF, and each model's training log (and held-out probe's, for the runs that log one)."""
    called = {f: [f(*(a if isinstance(a, tuple) else (a,))) for a in args] for f, args in arguments().items()}
    trained = [paths.sweep_model, paths.finetune_model, paths.peft_aligned_model]
    probed = [*called[paths.base_model], paths.ALIGN, *called[paths.setup_aligned_model]]
    models = probed + [paths.SOFT_PROMPT_BEST] + [model for f in trained for model in called[f]]
    return (
        [value for value in vars(paths).values() if isinstance(value, Path)]
        + [path for f, found in called.items() if f != paths.figure for path in found]
        + [stem.with_suffix(ext) for stem in called[paths.figure] for ext in (".png", ".pdf")]
        + [paths.training_log(model) for model in models]
        + [paths.progress_log(model) for model in probed]
    )


@cache
def declared() -> list[Path]:
    """Every output of dvc.yaml's stages, relative to the repository."""
    with Repo(str(ROOT)) as repo:
        return [Path(out.fs_path).relative_to(ROOT) for stage in repo.index.stages for out in stage.outs]


def undeclared(names: list[Path], outs: list[Path]) -> list[Path]:
    """The names that are no output, lie in none and hold none."""
    return [p for p in names if not any(p == o or p.is_relative_to(o) or o.is_relative_to(p) for o in outs)]


def unnamed(outs: list[Path], names: list[Path]) -> list[Path]:
    """The outputs under models/, logs/, metrics/ and figures/ that are no name and hold none."""
    roots = (paths.MODELS_DIR, paths.LOGS_DIR, paths.METRICS_DIR, paths.FIGURES_DIR)
    ours = [o for o in outs if any(o.is_relative_to(root) for root in roots)]
    return [o for o in ours if not any(p == o or p.is_relative_to(o) for p in names)]


def test_every_function_of_paths_py_is_expanded_here():
    functions = {f for _, f in inspect.getmembers(paths, inspect.isfunction) if f.__module__ == paths.__name__}
    assert functions - {paths.training_log, paths.progress_log} == set(arguments())


def test_every_named_path_is_declared_in_dvc_yaml():
    assert not undeclared(named(), declared())


def test_every_declared_output_is_named_in_paths_py():
    assert not unnamed(declared(), named())


def test_a_path_typed_differently_is_caught():
    """The checks' own failure: a fine-tuned model's directory named otherwise in one of the two."""
    names, outs = named(), declared()
    right, wrong = Path("models/finetune/lora_k0"), Path("models/finetune/lora-k0")
    assert right in names and right in outs
    assert wrong in undeclared([wrong if p == right else p for p in names], outs)
    assert wrong in unnamed([wrong if o == right else o for o in outs], names)
