"""The fine-tuning methods, named once: what the config, the training code, the stages and the figures read.

A method's name is one of its kind's (``lora``, ``soft_prompt_<P>`` with P learned pairs, or
``full_finetune``). Each kind gives the pattern of its names, its label, its colour and marker on every
figure (a soft prompt of a given P may have its own), the setting that gives its learning rate, and
whether it is a ``peft`` adapter (which the aligned models of ``align_peft`` may use). A new method is
an entry here, its training code (:mod:`polyground.finetune`) and its test. No ``peft`` import here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    pattern: str  # the kind's names, in full; a group ``pairs`` where the name carries them
    label: str  # formatted with the name's groups
    colour: str
    rate: str  # the fine-tuning setting that gives its learning rate
    adapter: bool  # trained through ``peft`` (an adapter or a prompt), not the whole model
    marker: str | None = None


KINDS = {
    "lora": Kind(r"lora", "LoRA", "#2e933c", "train.lr", adapter=True),
    "soft_prompt": Kind(
        r"soft_prompt_(?P<pairs>[1-9]\d*)",
        "Soft prompt ({pairs} pairs)",
        "#7b3294",
        "train.lr",
        adapter=True,
        marker="v",
    ),
    "full_finetune": Kind(r"full_finetune", "Full fine-tuning", "#3d3d3d", "full_finetune_lr", adapter=False),
}
BEST_RATE_PROMPT = "soft_prompt_best"  # the sweep's best-rate 50-pair prompt (a model, not a method name)
LOOKS = {"soft_prompt_50": ("#a6611a", "s")}  # a name's own colour and marker, where two of a kind meet on a figure


def kind(name: str) -> tuple[str, dict[str, str]]:
    """The kind of a method name and the groups of its name; ValueError naming the allowed forms."""
    for kind_name, entry in KINDS.items():
        match = re.fullmatch(entry.pattern, name)
        if match:
            return kind_name, match.groupdict()
    raise ValueError(f"unknown fine-tuning method {name!r}: allowed {', '.join(forms())}")


def forms() -> list[str]:
    """The allowed names, as a reader writes them (``soft_prompt_<P>``)."""
    return [re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: f"<{m.group(1).upper()[0]}>", k.pattern) for k in KINDS.values()]


def check(name: str, adapters_only: bool = False) -> str:
    """``name`` if it is a method (an adapter, with ``adapters_only``), else ValueError saying what is allowed."""
    found = KINDS[kind(name)[0]]
    if adapters_only and not found.adapter:
        allowed = [f for f, k in zip(forms(), KINDS.values()) if k.adapter]
        raise ValueError(f"{name!r} is not a peft adapter: allowed {', '.join(allowed)}")
    return name


def adapter(name: str) -> bool:
    """Whether method ``name`` trains a ``peft`` adapter or prompt (else the whole model)."""
    return KINDS[kind(name)[0]].adapter


def soft_prompt(name: str) -> bool:
    """Whether the model ``name`` (a method, the best-rate prompt, or any other predictor) is a soft prompt."""
    return name == BEST_RATE_PROMPT or re.fullmatch(KINDS["soft_prompt"].pattern, name) is not None


def pairs(name: str) -> int:
    """The learned pairs of a soft prompt's name; 0 for a method without any."""
    return int(kind(name)[1].get("pairs") or 0)


def rate(name: str, config) -> float:
    """The learning rate of method ``name`` from a fine-tuning config (``finetune``)."""
    value = config
    for part in KINDS[kind(name)[0]].rate.split("."):
        value = getattr(value, part)
    return value


def label(name: str) -> str:
    kind_name, groups = kind(name)
    return KINDS[kind_name].label.format(**groups)


def look(name: str) -> tuple[str, str | None]:
    """The colour and marker of method ``name`` on every figure."""
    entry = KINDS[kind(name)[0]]
    return LOOKS.get(name, (entry.colour, entry.marker))
