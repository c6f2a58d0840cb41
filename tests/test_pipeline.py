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
from polyground.checkpoint import load_checkpoint
from polyground.claims import load_claims, lookup, metric_refs
from polyground.config import load_params

pytestmark = pytest.mark.slow

PRODUCED = (
    [
        "metrics/pretrain.json",
        "metrics/pretrain_curve.csv",
        "logs/pretrain.csv",
        "logs/pretrain_progress.csv",
        "figures/pretrain_progress.png",
        "figures/pretrain_progress.pdf",
        "figures/function_class.png",
        "figures/function_class.pdf",
        "figures/pretrain_vs_baselines.png",
        "figures/pretrain_vs_baselines.pdf",
        "metrics/seed_spread.json",
        "paper/generated/numbers.tex",
        "paper/generated/claims.tex",
        "metrics/clamping.json",
        "metrics/clamping/degree_4.csv",
        "metrics/clamping/degree_8.csv",
        "metrics/clamping/picture.csv",
        "metrics/clamping/degree_4_above.csv",
        "metrics/clamping/degree_8_above.csv",
        "figures/in_context_clamping.png",
        "figures/in_context_clamping.pdf",
        "figures/clamping_picture.png",
        "figures/clamping_picture.pdf",
        "logs/pretrain_snapshot.csv",
        "logs/pretrain_snapshot_progress.csv",
        "logs/pretrain_tiny.csv",
        "logs/pretrain_small.csv",
        "metrics/model_sizes.json",
        "metrics/model_sizes.csv",
        "logs/align.csv",
        "metrics/align.json",
        "metrics/align/clamped_regression.csv",
        "metrics/align/defender.csv",
        "metrics/jailbreak.json",
        "metrics/jailbreak.csv",
        "logs/align_setups/authors_progress.csv",  # the smoke set's align_setups (configs/smoke.yaml)
        "metrics/jailbreak_setups/authors.json",
        "figures/jailbreak_setup_authors.png",
        "figures/jailbreak_setup_authors.pdf",
        "metrics/soft_prompt_sweep.json",
        "metrics/soft_prompt_sweep.csv",
        "metrics/finetune.json",
        "metrics/finetune/k0.csv",
        "metrics/finetune/k3.csv",
        "metrics/finetune_summary.md",
        "metrics/soft_prompt_sweep_best.json",
        "metrics/model_sizes_above.csv",
    ]
    + [
        f"metrics/chunks/{stage}.json"
        for stage in ("pretrain", "clamping", "model_sizes", "align", "soft_prompt_sweep", "finetune")
    ]
    + [
        f"figures/{name}.{ext}"
        for name in (
            "model_sizes",
            "aligned_model",
            "jailbreak",
            "jailbreak_normal_x_ablation",
            "jailbreak_paper_degree",
            "finetune_fixed_coefficients",
            "soft_prompt_lr_sweep",
        )
        for ext in ("png", "pdf")
    ]
)
PHENOMENA = ["elasticity", "safety_basin", "steering", "many_shot", "post_training_scaling"]  # beyond the paper
PRODUCED += [
    f"{kind}/{name}.{ext}"
    for name in PHENOMENA
    for kind, ext in (("metrics", "json"), ("metrics", "csv"), ("figures", "png"), ("figures", "pdf"))
]
CHECKPOINTS = [
    "models/pretrain",
    "models/pretrain_snapshot",
    "models/pretrain_tiny",
    "models/pretrain_small",
    "models/align",
    "models/align_setups/authors",
    "models/finetune/full_finetune_k0",
]
ADAPTERS = [f"models/finetune/{m}_k{k}" for m in ("lora", "soft_prompt_2") for k in (0, 3)] + [
    "models/soft_prompt_sweep/lr_0.05",
    "models/soft_prompt_sweep/lr_0.0005",
    "models/soft_prompt_best",
    "models/align_peft/lora",
    "models/align_peft/soft_prompt_5",
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
    two, _ = load_checkpoint(copy / "models" / "pretrain", params.model)
    one, _ = load_checkpoint(repo / "models" / "pretrain", params.model)
    for (name, a), (_, b) in zip(two.state_dict().items(), one.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4, msg=name)
    rows = [
        [line.split(",") for line in (r / "logs" / "pretrain.csv").read_text().splitlines()[1:]] for r in (copy, repo)
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
    shutil.rmtree(clone / "models")
    shutil.rmtree(clone / ".dvc" / "cache")
    trained = [name for name in PRODUCED if name.startswith("logs/") or any(f"/{p}." in name for p in PHENOMENA)]
    regenerated = [
        name for name in PRODUCED if name not in trained + ["metrics/seed_spread.json"]
    ]  # training stages' outputs
    for name in regenerated:  # reproduce.sh must write every one of them again
        (clone / name).unlink()

    result = _reproduce(clone, env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "regenerated (reevaluate): 2 of 2 PASS" in result.stdout
    assert (
        clone / "models" / "pretrain" / "model.safetensors"
    ).exists() and "Running stage 'pretrain'" not in result.stdout
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
    meta = json.loads((repo / "models/align/model.json").read_text())
    verdict = meta["convergence"]
    assert verdict["stable_steps"] in (20, 40) and isinstance(verdict["converged"], bool)
    assert meta["step"] == verdict["stable_steps"] + 4  # then the decay (smoke: 4 steps)
    with open(repo / "logs/align_progress.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {"jailbreak@32", "jailbreak_margin@32", "defender@16"} <= set(rows[0])
    assert int(rows[-1]["step"]) == meta["step"]


def test_every_fine_tuning_run_records_its_convergence(smoke_repo):
    """With a wsd finetune.train (the smoke set's), the grid, the sweep and the best prompt follow the
    rule: each sidecar has its verdict, and its held-out error along the run is logged beside its loss."""
    repo, _ = smoke_repo
    sidecars = sorted((repo / "models").glob("finetune/*/*.json")) + sorted(
        (repo / "models").glob("soft_prompt_*/**/*.json")
    )
    runs = [s for s in sidecars if "convergence" in json.loads(s.read_text())]
    assert len(runs) == 2 * 3 + 2 + 1  # smoke: 3 methods x 2 k, 2 sweep rates, the best prompt
    for sidecar in runs:
        meta = json.loads(sidecar.read_text())
        assert meta["steps"] == meta["convergence"]["stable_steps"] + 4
        with open(repo / "logs" / f"{sidecar.parent.relative_to(repo / 'models')}_progress.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert int(rows[-1]["step"]) == meta["steps"] and float(rows[-1]["error@20"]) >= 0
