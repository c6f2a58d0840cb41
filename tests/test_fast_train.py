"""The GPU path on the CPU: the device stream's statistics, its loop's resumption, the recipe's smoke run.

On a CUDA machine the stream tests also run on the GPU (its generator draws another stream there)."""

import json
import os
import subprocess

import pytest
import torch

from conftest import ROOT
from polyground.checkpoint import build_model
from polyground.config import CurriculumConfig, load_params, replace
from polyground.curriculum import pretraining_batches
from polyground.fast_train import train_fast
from polyground.tasks import ChebyshevTask, generator_for
from tiny_run import CONFIG, MODEL, TASK

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_the_device_stream_is_drawn_on_the_device_and_is_a_function_of_seed_and_step(device):
    task = ChebyshevTask(11)
    batch = pretraining_batches(task, CurriculumConfig(degree_start=11), seed=3, device=device)
    xs, ys, target = batch(7, 64, 31)
    assert xs.device.type == device and ys is target
    again = batch(7, 64, 31)
    assert torch.equal(again[0], xs) and torch.equal(again[1], ys)
    assert not torch.equal(batch(8, 64, 31)[0], xs)
    if device == "cpu":  # the CPU recipe's stream is the "train" one; another device's is "device"
        cpu = task.sample(64, 31, generator_for(3, "train", 7))[0]
        assert torch.equal(cpu, xs)


@pytest.mark.parametrize("device", DEVICES)
def test_the_device_streams_statistics_match_the_cpu_streams(device):
    """Mean y^2 of the class (sum over degrees of E T_k(x)^2 for x ~ U[-1, 1]), uniform degrees,
    fixed coefficients set, on 64 batches of the "device" stream against the CPU's."""
    task = ChebyshevTask(11, fixed_coefficients=2)
    draws = {}
    for stream, where in (("train", "cpu"), ("device", device)):
        samples = [task.sample(256, 31, generator_for(0, stream, step, where)) for step in range(64)]
        draws[stream] = torch.cat([c.cpu() for _, _, c in samples]), torch.cat([y.cpu() for _, y, _ in samples])
    for coefficients, _ in draws.values():
        assert torch.all(coefficients[:, :2] == 1)
        degrees = ((coefficients != 0) * torch.arange(12)).amax(1)
        counts = torch.bincount(degrees[degrees >= 2], minlength=12)[2:].double()  # degrees 0, 1 look like 1
        assert counts.min() > 0.8 * counts.mean()
    means = [float((ys.double() ** 2).mean()) for _, ys in draws.values()]
    assert abs(means[0] - means[1]) < 0.05 * means[0]
    assert not torch.equal(draws["train"][1], draws["device"][1])


def _fast_run(run_dir, config, deadline=None):
    torch.manual_seed(0)
    model = build_model(MODEL)
    batch = pretraining_batches(TASK, config.curriculum, seed=0)
    summary = train_fast(model, batch, config, run_dir, {"test": "fast"}, torch.device("cpu"), deadline=deadline)
    return summary, {k: v.clone() for k, v in model.state_dict().items()}


def test_a_run_stopped_at_its_deadline_resumes_to_the_uninterrupted_weights(tmp_path):
    config = replace(CONFIG, steps=30, checkpoint_every=10, log_every=5)
    _, whole = _fast_run(tmp_path / "whole", config)
    stopped, _ = _fast_run(tmp_path / "cut", config, deadline=0.0)
    assert stopped["step"] == 5  # the first logged step after the deadline; state saved there
    assert json.loads((tmp_path / "cut" / "state.json").read_text())["step"] == 5
    summary, resumed = _fast_run(tmp_path / "cut", config)
    assert summary["step"] == 30
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    rows = (tmp_path / "cut" / "log.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == [5, 10, 15, 20, 25, 30]


def test_the_gpu_recipe_is_a_valid_parameter_set():
    params = load_params(ROOT / "params.yaml", "gpu")
    train = params.pretrain.train
    assert train.batch_size >= 256 and train.schedule == "wsd" and params.pretrain.continued is None


def test_the_prepared_device_run_works_on_the_cpu_in_smoke_mode(tmp_path):
    """scripts/gpu_run.sh --smoke: the throughput benchmark, the recipe's command on the smoke set, and
    the 8 files it leaves in its output directory (checkpoint, run state, logs, evaluation, throughput)."""
    out = tmp_path / "out"
    subprocess.run(
        ["bash", "scripts/gpu_run.sh", "--smoke"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, "OUTPUT_DIR": str(out)},
    )
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "model.safetensors",
            "model.json",
            "state.safetensors",
            "state.json",
            "pretrain.csv",
            "pretrain_progress.csv",
            "evaluation.json",
            "throughput.json",
        ]
    )
    result = json.loads((out / "evaluation.json").read_text())
    assert result["step"] == 20 and result["device"] == "cpu" and set(result["model"]) >= {"mse@10", "mse@20"}
    assert json.loads((out / "throughput.json").read_text())[0]["sequences_per_s"] > 0
