"""The fine-tuning methods' registry (polyground.methods): one place that the config, the training code and
the figures read."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import smoke_dict
from polyground import methods, plotting
from polyground.config import ParamsError, load_params, params_from_dict


def test_names_parse_into_their_kind_pairs_label_look_and_rate():
    config = load_params().finetune
    assert methods.kind("soft_prompt_50") == ("soft_prompt", {"pairs": "50"})
    assert [methods.pairs(m) for m in ("lora", "soft_prompt_2", "full_finetune")] == [0, 2, 0]
    assert methods.label("soft_prompt_7") == "Soft prompt (7 pairs)" == plotting.label("soft_prompt_7")
    assert methods.rate("full_finetune", config) == config.full_finetune_lr
    assert methods.rate("lora", config) == methods.rate("soft_prompt_2", config) == config.train.lr
    assert plotting.color("soft_prompt_2") != plotting.color("soft_prompt_50")  # two of a kind told apart
    assert not methods.adapter("full_finetune") and methods.adapter("lora")
    with pytest.raises(ValueError, match="unknown fine-tuning method 'soft_prompt_0'"):
        methods.kind("soft_prompt_0")


def test_a_new_method_is_one_registry_entry_that_the_config_accepts(monkeypatch):
    """Adding a kind to a copy of the registry: the config takes its names, the figures label them."""
    params = smoke_dict()
    params["finetune"]["methods"] = ["lora", "prefix_8"]
    with pytest.raises(ParamsError, match="unknown fine-tuning method 'prefix_8'"):
        params_from_dict(params)
    prefix = dataclasses.replace(methods.KINDS["soft_prompt"], pattern=r"prefix_(?P<pairs>[1-9]\d*)", label="Prefix")
    monkeypatch.setattr(methods, "KINDS", {**methods.KINDS, "prefix": prefix})
    assert params_from_dict(params).finetune.methods == ["lora", "prefix_8"]
    assert methods.pairs("prefix_8") == 8 and plotting.label("prefix_8") == "Prefix"
    assert "prefix_<P>" in methods.forms()
