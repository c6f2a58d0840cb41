import json

import pytest
import torch

from polyground.checkpoint import CheckpointError, build_model, load_checkpoint, save_checkpoint
from polyground.config import ModelConfig

CONFIG = ModelConfig(n_embd=16, n_layer=1, n_head=2, max_points=5)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = build_model(CONFIG)
    save_checkpoint(model, tmp_path / "ckpt", CONFIG, stage="pretrain", step=3)
    return model, tmp_path / "ckpt"


def test_round_trip(saved):
    model, directory = saved
    loaded, meta = load_checkpoint(directory, CONFIG)
    assert meta["step"] == 3
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name


def test_missing_checkpoint_says_how_to_get_it(tmp_path):
    with pytest.raises(CheckpointError, match=r"missing.*dvc pull .*dvc repro pretrain"):
        load_checkpoint(tmp_path / "nothing")


def test_truncated_file_is_reported_as_corrupt(saved):
    _, directory = saved
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match=r"corrupt.*dvc pull"):
        load_checkpoint(directory)


def test_hash_mismatch_is_reported(saved):
    _, directory = saved
    meta = json.loads((directory / "model.json").read_text())
    meta["sha256"] = "0" * 64
    (directory / "model.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not match the recorded"):
        load_checkpoint(directory)


def test_architecture_mismatch_is_reported(saved):
    _, directory = saved
    with pytest.raises(CheckpointError, match="trained with model"):
        load_checkpoint(directory, ModelConfig(n_embd=32, n_layer=1, n_head=2, max_points=5))
