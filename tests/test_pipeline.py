"""End to end: the smoke parameter set through `dvc repro` in a temporary copy of the repository."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from dvc.repo import Repo

from conftest import ROOT
from polyground import paths
from polyground.checkpoint import load_checkpoint
from polyground.claims import load_claims, lookup, metric_refs
from polyground.config import load_params
from polyground.paths import (
    base_model,
    chunks_path,
    clamping_curves,
    figure,
    finetune_curves,
    finetune_model,
    jailbreak_setup_metrics,
    metrics_csv,
    metrics_json,
    peft_aligned_model,
    progress_log,
    setup_aligned_model,
    sweep_model,
    training_log,
)

pytestmark = pytest.mark.slow

SETUP = "authors"  # the smoke set's align_setups (configs/smoke.yaml)
EVALUATIONS = ["pretrain", "clamping", "model_sizes", "align", "soft_prompt_sweep", "finetune"]  # with chunk means
FIGURES = [
    *("pretrain_progress", "function_class", "pretrain_vs_baselines", "in_context_clamping", "clamping_picture"),
    *("model_sizes", "aligned_model", "jailbreak", "jailbreak_normal_x_ablation", "jailbreak_paper_degree"),
    *("finetune_fixed_coefficients", "soft_prompt_lr_sweep", f"jailbreak_setup_{SETUP}"),
]
BASES = ["pretrain", "pretrain_snapshot", "pretrain_tiny", "pretrain_small"]
PRODUCED = [
    str(path)
    for path in [
        *(metrics_json(name) for name in [*EVALUATIONS, "seed_spread", "jailbreak", "soft_prompt_sweep_best"]),
        *(
            metrics_csv(name)
            for name in ["pretrain_curve", "model_sizes", "model_sizes_above", "jailbreak", "soft_prompt_sweep"]
        ),
        *(chunks_path(stage) for stage in EVALUATIONS),
        *(clamping_curves(degree, view) for degree in (4, 8) for view in ("", "_above")),
        paths.CLAMPING_PICTURE,
        paths.CLAMPED_REGRESSION,
        paths.DEFENDER,
        *(finetune_curves(k) for k in (0, 3)),
        paths.FINETUNE_SUMMARY,
        jailbreak_setup_metrics(SETUP),
        *(training_log(base_model(name)) for name in BASES),
        *(progress_log(base_model(name)) for name in ["pretrain", "pretrain_snapshot"]),
        training_log(paths.ALIGN),
        progress_log(setup_aligned_model(SETUP)),
        *(figure(name).with_suffix(ext) for name in FIGURES for ext in (".png", ".pdf")),
    ]
] + ["paper/generated/numbers.tex", "paper/generated/claims.tex"]
PHENOMENA = ["elasticity", "safety_basin", "steering", "many_shot", "post_training_scaling"]  # beyond the paper
PRODUCED += [
    str(path)
    for name in PHENOMENA
    for path in (
        metrics_json(name),
        metrics_csv(name),
        figure(name).with_suffix(".png"),
        figure(name).with_suffix(".pdf"),
    )
]
CHECKPOINTS = [base_model(name) for name in BASES] + [
    paths.ALIGN,
    setup_aligned_model(SETUP),
    finetune_model("full_finetune", 0),
]
ADAPTERS = [finetune_model(m, k) for m in ("lora", "soft_prompt_2") for k in (0, 3)] + [
    sweep_model(0.05),
    sweep_model(0.0005),
    paths.SOFT_PROMPT_BEST,
    peft_aligned_model("lora"),
    peft_aligned_model("soft_prompt_5"),
]
# scripts/smoke.sh reproduces up to the report's generated numbers: report.tex is written for the
# default parameters (its PDF is built from the committed numbers in test_report).
TARGETS = ["figures", "report", "pretrain_progress", "phenomena_figure", "jailbreak_setup"]


def _run(args, cwd, env):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def smoke_repo(tmp_path_factory):
    """scripts/smoke.sh: a git+DVC copy of the code with the smoke parameter set applied, reproduced once."""
    repo = tmp_path_factory.mktemp("repo")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "DVC_NO_ANALYTICS": "1",
        "POLYGROUND_PARAMS_LOG": str(repo / "params_read.jsonl"),  # what each stage reads (run_stage)
    }
    _run(["bash", str(ROOT / "scripts" / "smoke.sh"), str(repo)], ROOT, env)
    return repo, {**env, "PYTHONPATH": str(repo / "src")}


def test_smoke_pipeline_produces_every_output(smoke_repo):
    repo, _ = smoke_repo
    for name in PRODUCED + [f"{c}/model.{e}" for c in CHECKPOINTS for e in ("safetensors", "json")] + ["dvc.lock"]:
        assert (repo / name).stat().st_size > 0, name
    for adapter in ADAPTERS:  # peft's save_pretrained: safetensors and its config, beside our sidecar
        for name in ("adapter_model.safetensors", "adapter_config.json", "finetune.json"):
            assert (repo / adapter / name).stat().st_size > 0, f"{adapter}/{name}"


def test_second_repro_is_up_to_date(smoke_repo):
    repo, env = smoke_repo
    out = _run(["dvc", "repro", *TARGETS], repo, env) + _run(["dvc", "status", *TARGETS], repo, env)
    assert "Running stage" not in out
    assert "up to date" in out


def test_deleted_phenomena_outputs_regenerate_identically(smoke_repo):
    """The five experiments beyond the paper train inside their stages (reproduce.sh does not force
    them): deleted, they come back byte for byte. The other outputs: the end-to-end test below."""
    repo, env = smoke_repo
    names = [name for name in PRODUCED if any(f"/{p}." in name for p in PHENOMENA)]
    before = {name: (repo / name).read_bytes() for name in names}
    for name in names:
        (repo / name).unlink()
    _run([sys.executable, "-m", "polyground.prestart", "--", "dvc", "repro", "phenomena_figure"], repo, env)
    for name, data in before.items():
        assert (repo / name).read_bytes() == data, f"{name} differs after regeneration"


AUDIT_SCRIPT = """
import json
from polyground import audit
from polyground.config import load_params
from polyground.paths import chunks_path
params = load_params()
for stage in audit.MEASURE:
    stored = json.loads(chunks_path(stage).read_text())
    assert not audit.measure(stage, stored, [0, params.intervals.chunks - 1], params), stage
    first = next(audit.leaves(stored["values"]))[1]
    (first["mean"] if isinstance(first, dict) else first)[0] += 0.5  # a stored chunk mean altered
    assert audit.measure(stage, stored, [0], params), stage
    print(stage, "checked")
"""


def test_the_audit_measures_every_stage_again_and_catches_an_altered_chunk(smoke_repo):
    """On the smoke run: the first and the last chunk of every evaluation stage, measured again from its
    checkpoints, agree with the stored chunk means; one stored chunk mean altered is caught."""
    repo, env = smoke_repo
    out = _run([sys.executable, "-c", AUDIT_SCRIPT], repo, env)
    assert out.count("checked") == 6, out


def test_pretrain_stage_under_accelerate_launch_two_cpu_processes(smoke_repo, tmp_path):
    """The README's scale-out command: the stage completes, writes one checkpoint that loads, and
    (same global batch and data stream) ends close to the single-process run of the same params."""
    repo, env = smoke_repo
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy, ignore=shutil.ignore_patterns("runs", ".dvc"))
    env = {**env, "PYTHONPATH": str(copy / "src")}
    _run(
        [
            "accelerate",
            "launch",
            "--cpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "-m",
            "polyground.stages.pretrain",
        ],
        copy,
        env,
    )
    params = load_params(copy / "params.yaml")
    two, _ = load_checkpoint(copy / paths.PRETRAIN, params.model)
    one, _ = load_checkpoint(repo / paths.PRETRAIN, params.model)
    for (name, a), (_, b) in zip(two.state_dict().items(), one.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4, msg=name)
    rows = [
        [line.split(",") for line in (r / training_log(paths.PRETRAIN)).read_text().splitlines()[1:]]
        for r in (copy, repo)
    ]
    assert [r[:2] for r in rows[0]] == [r[:2] for r in rows[1]]  # same steps and curriculum
    assert [float(r[3]) for r in rows[0]] == pytest.approx([float(r[3]) for r in rows[1]], rel=1e-3)  # same losses


def _leaves(tree: dict, prefix: str = "") -> list[str]:
    return [
        leaf
        for key, value in tree.items()
        for leaf in (_leaves(value, f"{prefix}{key}.") if isinstance(value, dict) and value else [f"{prefix}{key}"])
    ]


def _under(key: str, roots: list[str]) -> bool:
    return any(root == "<all>" or key == root or key.startswith(root + ".") for root in roots)


def test_each_stage_declares_the_params_it_reads(smoke_repo):
    """Every key a stage read on the smoke run is in its dvc.yaml params, and every declared key
    was read in full (a whole section declared for a few keys re-runs the stage for nothing). The
    items of a matrix or foreach stage share one params list, so there it is their reads together
    that must cover it (LoRA reads the LoRA rank, full fine-tuning its own rate)."""
    repo, _ = smoke_repo
    records = [json.loads(line) for line in (repo / "params_read.jsonl").read_text().splitlines()]
    read = {(r["module"], tuple(r["argv"])): r["read"] for r in records}
    leaves = _leaves(yaml.safe_load((repo / "params.yaml").read_text()))
    with Repo(str(repo)) as dvc_repo:
        stages = [
            (s.name, s.cmd.split(), [k for d in s.deps if hasattr(d, "params") for k in d.params])
            for s in dvc_repo.index.stages
            if s.cmd
        ]
    group_reads: dict[str, set[str]] = {}
    for name, cmd, declared in stages:
        keys = read.get((cmd[2].rsplit(".", 1)[1], tuple(cmd[3:])))
        if keys is None:
            assert name == "report_pdf", f"stage {name} did not run in the smoke pipeline"
            continue
        undeclared = [k for k in keys if k != "<all>" and not _under(k, declared)]
        assert not undeclared, f"dvc.yaml: stage {name} reads {undeclared} without declaring them in params"
        group_reads.setdefault(name.split("@")[0], set()).update(keys)
    for name, _, declared in stages:
        keys = group_reads.get(name.split("@")[0])
        if keys is None:
            continue
        broad = [d for d in declared if not all(_under(leaf, list(keys)) for leaf in leaves if _under(leaf, [d]))]
        assert not broad, (
            f"dvc.yaml: stage {name} declares {broad} but reads only {sorted(k for k in keys if _under(k, broad))}"
        )
    assert len(group_reads) >= 15


def test_claims_of_other_papers_read_metrics_the_smoke_run_wrote(smoke_repo):
    """Every metric the claims of the five phenomena (claims.yaml, with a `source`) name exists."""
    repo, _ = smoke_repo
    recorded = [c for c in load_claims(ROOT / "paper" / "claims.yaml") if c.get("source")]
    assert {c["id"].split(".")[0] for c in recorded} == {
        "elasticity",
        "safety_basin",
        "steering",
        "many_shot",
        "post_training_scaling",
    }
    for claim in recorded:
        for ref in metric_refs(claim):
            assert isinstance(lookup(ref, repo), float), f"{claim['id']}: {ref}"


SMOKE_CLAIMS = """claims:
- id: smoke.pretrain_below_zero
  figure: figures/pretrain_vs_baselines.png
  paper: The pretrained transformer beats the zero predictor
  statement: After 10 examples the model's error is below the zero predictor's
  less: [metrics/pretrain.json:model.mse@10, metrics/pretrain.json:zero.mse@10]
- id: smoke.jailbreak_below_ceiling
  figure: figures/jailbreak.png
  statement: At 40 examples the aligned model is jailbroken less often than the pretrained model
  less:
    - metrics/jailbreak.json:uniform_x.aligned.jailbroken.rate.40
    - metrics/jailbreak.json:uniform_x.pretrained.jailbroken.rate.40
"""
SMOKE_REPORT = r"""\documentclass{article}
\input{generated/numbers.tex}
\input{generated/claims.tex}
\begin{document}
Smoke set: error after 10 examples \PretrainModelMseAtOneZero{}.
\end{document}
"""


def _reproduce(clone, env, *args):
    return subprocess.run([str(clone / "reproduce.sh"), *args], cwd=clone, env=env, capture_output=True, text=True)


def test_reproduce_sh_end_to_end_from_a_remote(smoke_repo, tmp_path):
    """The reviewer's path on the smoke set: a workspace without checkpoints or DVC cache, the
    checkpoints pulled from a (local) remote, every evaluation, figure and report regenerated, the
    claims verified: exit 0. A recorded value moved beyond the tolerance: exit 1."""
    repo, env = smoke_repo
    clone = tmp_path / "clone"
    shutil.copytree(repo, clone, symlinks=True)
    shutil.copy2(ROOT / "reproduce.sh", clone)
    shutil.copytree(ROOT / "scripts", clone / "scripts")
    (clone / "paper" / "claims.yaml").write_text(SMOKE_CLAIMS)
    (clone / "paper" / "report.tex").write_text(SMOKE_REPORT)  # report.tex names the default set's numbers
    env = {k: v for k, v in env.items() if k != "POLYGROUND_PARAMS_LOG"} | {
        "PYTHONPATH": str(clone / "src"),
        "POLYGROUND_IMAGE": "the test's environment",
    }
    _run(["dvc", "remote", "add", "-d", "bundled", str(tmp_path / "remote")], clone, env)
    _run(["dvc", "push"], clone, env)
    _run([sys.executable, "-m", "polyground.claims", "record"], clone, env)
    shutil.rmtree(clone / paths.MODELS_DIR)
    shutil.rmtree(clone / ".dvc" / "cache")
    trained = [
        name for name in PRODUCED if name.startswith(f"{paths.LOGS_DIR}/") or any(f"/{p}." in name for p in PHENOMENA)
    ]
    regenerated = [
        name for name in PRODUCED if name not in trained + [str(metrics_json("seed_spread"))]
    ]  # training stages' outputs
    for name in regenerated:  # reproduce.sh must write every one of them again
        (clone / name).unlink()

    result = _reproduce(clone, env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "regenerated (reevaluate): 2 of 2 PASS" in result.stdout
    assert (clone / paths.PRETRAIN / "model.safetensors").exists() and "Running stage 'pretrain'" not in result.stdout
    for name in regenerated:  # from pulled checkpoints, byte for byte (claims.tex renders the smoke claims)
        if name != "paper/generated/claims.tex":
            assert (clone / name).read_bytes() == (repo / name).read_bytes(), f"{name} differs after regeneration"

    claims = yaml.safe_load((clone / "paper" / "claims.yaml").read_text())
    claims["claims"][0]["recorded"] = {k: 2 * v + 1 for k, v in claims["claims"][0]["recorded"].items()}
    (clone / "paper" / "claims.yaml").write_text(yaml.safe_dump(claims))
    result = _reproduce(clone, env, "--only", "evaluate_pretrain")
    assert result.returncode == 1 and "FAIL" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]


def test_the_aligned_model_records_its_convergence(smoke_repo):
    """The align stage follows the convergence rule: the sidecar says how long the stable phase ran and
    whether it converged or hit the cap; the held-out metrics along the run are in logs/align_progress.csv."""
    repo, _ = smoke_repo
    meta = json.loads((repo / paths.ALIGN / "model.json").read_text())
    verdict = meta["convergence"]
    assert verdict["stable_steps"] in (20, 40) and isinstance(verdict["converged"], bool)
    assert meta["step"] == verdict["stable_steps"] + 4  # then the decay (smoke: 4 steps)
    with open(repo / progress_log(paths.ALIGN), newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {"jailbreak@32", "jailbreak_margin@32", "defender@16"} <= set(rows[0])
    assert int(rows[-1]["step"]) == meta["step"]


def test_every_fine_tuning_run_records_its_convergence(smoke_repo):
    """With a wsd finetune.train (the smoke set's), the grid, the sweep and the best prompt follow the
    rule: each sidecar has its verdict, and its held-out error along the run is logged beside its loss."""
    repo, _ = smoke_repo
    sidecars = sorted((repo / paths.MODELS_DIR).glob("finetune/*/*.json")) + sorted(
        (repo / paths.MODELS_DIR).glob("soft_prompt_*/**/*.json")
    )
    runs = [s for s in sidecars if "convergence" in json.loads(s.read_text())]
    assert len(runs) == 2 * 3 + 2 + 1  # smoke: 3 methods x 2 k, 2 sweep rates, the best prompt
    for sidecar in runs:
        meta = json.loads(sidecar.read_text())
        assert meta["steps"] == meta["convergence"]["stable_steps"] + 4
        with open(repo / progress_log(sidecar.parent.relative_to(repo)), newline="") as f:
            rows = list(csv.DictReader(f))
        assert int(rows[-1]["step"]) == meta["steps"] and float(rows[-1]["error@20"]) >= 0
