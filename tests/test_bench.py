"""The benchmarks' analytic FLOP counts, against torch's own count (the bounds they print rest on them)."""

import sys

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from conftest import ROOT
from polyground.checkpoint import build_model
from polyground.config import ModelConfig, load_params

sys.path.insert(0, str(ROOT / "bench"))
from forward import forward_flops  # noqa: E402
from reviewer_bound import passes  # noqa: E402


@pytest.mark.parametrize("tokens", [62, 162])
def test_forward_flops_are_the_matmuls_torch_counts_plus_causal_attention(tokens):
    config = ModelConfig(n_embd=128, n_layer=6, n_head=4, max_points=81)
    model = build_model(config).eval()
    batch = 2
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.backbone(inputs_embeds=torch.randn(batch, tokens, config.n_embd))
    attention = 2 * config.n_layer * config.n_embd * tokens * tokens  # QK^T and AV over ~tokens/2 keys
    matmuls = forward_flops(config.n_embd, config.n_layer, tokens) - attention
    # torch counts the backbone's linear layers (not its attention products); the read-in and read-out
    # (2 x n_embd FLOPs each per token) are in ours, outside the backbone
    assert counter.get_total_flops() / batch == pytest.approx(matmuls - 2 * 2 * config.n_embd * tokens, rel=1e-9)


def test_reviewer_bound_counts_every_evaluation_stage_the_reviewer_regenerates():
    stages = set(passes(load_params(ROOT / "params.yaml")))
    script = (ROOT / "reproduce.sh").read_text()
    regenerated = script.split("regenerate=(")[1].split(")")[0].split()
    model_heavy = {s for s in regenerated if s.startswith(("evaluate_", "jailbreak"))} - {"evaluate_model_sizes"}
    assert stages == model_heavy


@pytest.mark.slow
def test_the_training_throughput_benchmark_runs_on_the_cpu_beside_the_cpu_loop(tmp_path):
    """bench/train_throughput.py on the CPU (the GPU path's step eager, the CPU loop as the stages run it):
    it prints both figures side by side and writes its rows."""
    import json
    import subprocess

    out = tmp_path / "rows.json"
    args = ["--points", "11", "--steps", "2", "--compile-mode", "none", "--cpu-loop", "--json", str(out)]
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench/train_throughput.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "CPU loop" in result.stdout and "the GPU path's step is" in result.stdout
    (row,) = json.loads(out.read_text())
    assert row["points"] == 11 and row["batch"] == 32 and row["sequences_per_s"] > 0
