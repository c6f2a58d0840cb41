"""Fine-tuning the pretrained regressor: LoRA and soft prompts through ``peft``, and full fine-tuning.

* ``lora``: ``peft`` LoRA on the GPT-2 backbone (the paper's: rank 4, alpha 16, dropout 0, no
  bias, ``fan_in_fan_out=True`` for GPT-2's Conv1D, target ``attn.c_attn``); read-in and read-out frozen.
* ``soft_prompt_<P>``: ``peft`` prompt tuning on the backbone (its feature-extraction wrapper
  prepends 2P learned vectors to ``inputs_embeds``, which is what the paper's soft prompts are: P
  "pairs" after the read-in); initialised as the read-in of 2P random scalars; all else frozen.
* ``full_finetune``: every parameter (a reference row the paper did not show).

Adapters and prompts are saved with ``save_pretrained`` (safetensors) beside ``finetune.json``,
which records the method and the base checkpoint's sha256 and size; :func:`load_finetuned`
refuses one that does not match the base it is loaded onto.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, PromptTuningConfig, TaskType, get_peft_model

from . import methods
from .checkpoint import load_checkpoint, save_checkpoint, sha256_of
from .config import FinetuneConfig, ModelConfig
from .errors import CheckpointError
from .files import write_atomic
from .model import InContextRegressor
from .paths import ALIGN, PRETRAIN, peft_aligned_model

SIDECAR = "finetune.json"


def peft_config(method: str, config: FinetuneConfig, model: InContextRegressor) -> LoraConfig | PromptTuningConfig:
    """The ``peft`` configuration of a LoRA or soft-prompt method."""
    if method == "lora":
        return LoraConfig(
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            lora_dropout=0.0,
            bias="none",
            fan_in_fan_out=True,
            target_modules=["attn.c_attn"],
        )
    pairs = methods.pairs(method)
    gpt2 = model.config
    return PromptTuningConfig(
        task_type=TaskType.FEATURE_EXTRACTION,
        num_virtual_tokens=2 * pairs,
        token_dim=gpt2.n_embd,
        num_transformer_submodules=1,
        num_attention_heads=gpt2.n_head,
        num_layers=gpt2.n_layer,
    )


def attach(model: InContextRegressor, method: str, config: FinetuneConfig, seed: int) -> InContextRegressor:
    """Freeze ``model`` and make the method's parameters trainable (in place; returns it)."""
    if not methods.adapter(method):  # full fine-tuning
        for name, parameter in model.named_parameters():
            parameter.requires_grad_("wte" not in name)
        return model
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    torch.manual_seed(seed)  # peft initialises LoRA's A from the global generator, seeded at random per process
    model.backbone = get_peft_model(model.backbone, peft_config(method, config, model))
    if methods.pairs(method):
        embedding = model.backbone.prompt_encoder["default"].embedding
        scalars = torch.randn(embedding.num_embeddings, 1, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            embedding.weight.copy_(model.read_in(scalars))
    return model


def save_finetuned(
    model: InContextRegressor, directory: str | Path, method: str, model_config: ModelConfig, base: dict, **meta
) -> None:
    """Write the adapter/prompt (``save_pretrained``) or the whole model, and the sidecar."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if not methods.adapter(method):
        save_checkpoint(model, directory, model_config, stage="finetune")
        weights = directory / "model.safetensors"
    else:
        model.backbone.save_pretrained(str(directory))
        weights = directory / "adapter_model.safetensors"
    write_atomic(
        directory / SIDECAR,
        json.dumps(
            {
                "method": method,
                "base_sha256": base["sha256"],
                "base_model": base["model"],
                "sha256": sha256_of(weights),
                **meta,
            },
            indent=2,
            sort_keys=True,
        )
        + "\n",
    )


def load_finetuned(directory: str | Path, base_directory: str | Path, stage: str) -> tuple[InContextRegressor, dict]:
    """The base checkpoint with a fine-tuned adapter, prompt or model applied; refuses a mismatch."""
    directory = Path(directory)
    fix = f"rebuild it with `dvc repro {stage}` (or `dvc pull {directory}`)"
    if not (directory / SIDECAR).is_file():
        raise CheckpointError(f"{directory / SIDECAR} is missing: {fix}")
    meta = json.loads((directory / SIDECAR).read_text())
    model, base = load_checkpoint(base_directory)
    if meta["base_sha256"] != base["sha256"] or meta["base_model"] != base["model"]:
        raise CheckpointError(
            f"{directory} was fine-tuned from base {meta['base_sha256'][:12]}... ({meta['base_model']}), not from "
            f"{base_directory} ({base['sha256'][:12]}..., {base['model']}): refusing to load it onto another base; "
            f"{fix}"
        )
    if not methods.adapter(meta["method"]):
        model, _ = load_checkpoint(directory, ModelConfig(**base["model"]), stage=stage)
        weights = directory / "model.safetensors"
    else:
        weights = directory / "adapter_model.safetensors"
        if not weights.is_file() or sha256_of(weights) != meta["sha256"]:
            raise CheckpointError(f"{weights} is missing or corrupt (sha256 differs from {SIDECAR}): {fix}")
        try:
            model.backbone = PeftModel.from_pretrained(model.backbone, str(directory))
        except (RuntimeError, ValueError, KeyError) as error:
            raise CheckpointError(f"{directory} does not fit the base model ({error}): {fix}") from None
    return model.eval(), meta


def aligned_models(params) -> dict[str, tuple[torch.nn.Module, str]]:
    """The full fine-tuned aligned model and each PEFT-aligned one (LoRA merged), verified, with the
    sha256 of their weights (or adapter)."""
    model, meta = load_checkpoint(ALIGN, params.model, stage="align")
    models = {"full_finetune": (model, meta["sha256"])}
    for method in params.align_peft.methods:
        model, meta = load_finetuned(peft_aligned_model(method), PRETRAIN, stage=f"align_peft@{method}")
        if method == "lora":
            model.backbone = model.backbone.merge_and_unload()
        models[method] = (model, meta["sha256"])
    return models
