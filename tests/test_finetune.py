"""Fine-tuning methods: trainable parameters, what stays frozen, adapters saved and refused."""

import copy
import json
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from polyground.checkpoint import CheckpointError, build_model, save_checkpoint
from polyground.config import FinetuneConfig, ModelConfig
from polyground.evaluate import model_predictor
from polyground.finetune import attach, load_finetuned, save_finetuned
from polyground.model import InContextRegressor, count_parameters

PAPER = ModelConfig(n_embd=128, n_layer=6, n_head=4, max_points=81)


@pytest.mark.parametrize(
    "method, trainable",
    [
        ("lora", 6 * (4 * 128 + 3 * 128 * 4)),  # rank 4 on c_attn (128 -> 384) in each of 6 layers: 12,288
        ("soft_prompt_2", 512),  # 2P vectors of 128
        ("soft_prompt_50", 12800),
        ("full_finetune", 1211137 - 128),  # everything but the unused one-row word embedding
    ],
)
def test_trainable_parameters_of_each_method_at_paper_size(method, trainable):
    model = attach(build_model(PAPER), method, FinetuneConfig(), seed=0)
    assert count_parameters(model) == trainable
    if method != "full_finetune":
        assert not model.read_in.weight.requires_grad and not model.read_out.weight.requires_grad


def test_soft_prompt_is_the_read_in_of_random_scalars_and_shifts_the_read_positions():
    model = build_model(ModelConfig(n_embd=16, n_layer=2, n_head=2, max_points=40))
    xs, ys = torch.rand(3, 10) * 2 - 1, torch.randn(3, 10)
    before = model(xs, ys)
    attach(model, "soft_prompt_5", FinetuneConfig(), seed=0)
    prompt = model.backbone.prompt_encoder["default"].embedding.weight
    direction = model.read_in.weight[:, 0]
    offsets = (prompt - model.read_in.bias) / direction  # each vector is bias + s * weight for a scalar s
    assert torch.allclose(offsets, offsets[:, :1].expand_as(offsets), atol=1e-4)
    assert model.prompt_tokens == 10
    after = model(xs, ys)
    assert after.shape == before.shape and not torch.allclose(after, before)
    with pytest.raises(ValueError, match="after 10 soft-prompt tokens"):
        model(torch.rand(1, 36), torch.randn(1, 36))  # 10 + 72 tokens > 80 positions


@pytest.mark.parametrize("method", ["lora", "soft_prompt_2", "full_finetune"])
def test_saved_finetune_loads_onto_its_base_and_is_refused_on_another(tmp_path, method):
    config = ModelConfig(n_embd=16, n_layer=2, n_head=2, max_points=20)
    torch.manual_seed(0)
    save_checkpoint(build_model(config), tmp_path / "base", config, stage="pretrain")
    torch.manual_seed(1)
    save_checkpoint(build_model(config), tmp_path / "other", config, stage="pretrain")
    from polyground.checkpoint import load_checkpoint

    model, base = load_checkpoint(tmp_path / "base")
    attach(model, method, FinetuneConfig(), seed=0)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.01)  # as if trained
    save_finetuned(model, tmp_path / "tuned", method, config, base, trainable_parameters=count_parameters(model))
    xs, ys = torch.rand(2, 8) * 2 - 1, torch.randn(2, 8)
    loaded, meta = load_finetuned(tmp_path / "tuned", tmp_path / "base", "finetune")
    torch.testing.assert_close(loaded(xs, ys), model.eval()(xs, ys))
    assert meta["method"] == method
    with pytest.raises(CheckpointError, match="was fine-tuned from base .* refusing to load it onto another base"):
        load_finetuned(tmp_path / "tuned", tmp_path / "other", "finetune")
    sidecar = json.loads((tmp_path / "tuned" / "finetune.json").read_text())
    assert sidecar["base_sha256"] == base["sha256"]


@pytest.mark.parametrize("method", ["lora", "soft_prompt_2"])
def test_initialisation_is_a_function_of_the_seed_only(method):
    """Whatever the global generator did before (torch seeds it at random per process), the same seed
    gives the same adapter or prompt."""
    base, weights = build_model(PAPER), []  # one base, as the stage loads one checkpoint
    for before in (1, 2):
        torch.manual_seed(before)
        model = attach(copy.deepcopy(base), method, FinetuneConfig(), seed=2)
        weights.append({k: v.clone() for k, v in model.named_parameters() if v.requires_grad})
    assert weights[0].keys() == weights[1].keys() and all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_soft_prompt_predictions_from_its_cached_keys_and_values_equal_the_full_pass():
    """model_predictor runs a soft prompt once and each batch after its cached keys and values."""
    model = InContextRegressor(n_embd=32, n_layer=2, n_head=2, n_positions=80)
    attach(model, "soft_prompt_5", FinetuneConfig(), seed=0)
    xs, ys = torch.rand(7, 12) * 2 - 1, torch.randn(7, 12)
    with torch.inference_mode():
        full = model(xs, ys)
    cached = model_predictor(model, batch_size=3)(xs, ys)
    torch.testing.assert_close(cached, full, rtol=1e-5, atol=1e-6)


ROOT = Path(__file__).resolve().parents[1]


def _device_runs(*args):
    return subprocess.run(["bash", "scripts/gpu_finetune.sh", *args], cwd=ROOT, capture_output=True, text=True)


def test_the_device_runs_are_the_stages_commands_under_the_set():
    """scripts/gpu_finetune.sh runs dvc.lock's commands of the named stages (so a run on the GPU is the
    run dvc repro resumes) under the set; anything else is refused with one error line."""
    done = _device_runs("--print", "finetune_converged", "60", "finetune@lora-0", "soft_prompt_sweep@5e-05")
    assert done.returncode == 0, done.stderr
    stages = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    names = ("finetune@lora-0", "soft_prompt_sweep@5e-05")
    expected = [stages[name]["cmd"].replace("python ", "python3 ", 1) + " --set finetune_converged" for name in names]
    assert done.stdout.splitlines() == expected
    for args in (["finetune_converged", "60", "align"], ["nosuch", "60", "finetune@lora-0"], ["x", "y"]):
        refused = _device_runs("--print", *args)
        assert (
            refused.returncode == 2 and refused.stderr.startswith("error: ") and len(refused.stderr.splitlines()) == 1
        )
