"""The paper's numbers, read off the authors' figures: the one source of every value of the paper that a
figure marks ("paper (approx.)") and of every ``paper_values`` entry of ``paper/claims.yaml``.

Read by eye from the figures the authors rendered in their public notebooks (MSNetrom/in-context-poly-
playground ``src/eval_finetuning.ipynb``; DylanDavi5/Refusal_Chebyshev), on log axes: about one
significant figure. Readings to compare with, never targets to tune to. A reading is named by its
figure, its curve and the number of in-context examples n (``pretrain.transformer.10``); a claim's
paper value is a reading, the difference or ratio of two (``A - B``, ``A / B``), or the slope of the
least-squares line in log2 n through a curve (``log2_slope(A)``): :func:`value`.
"""

from __future__ import annotations

import re

READINGS: dict[str, dict] = {
    "pretrain": {  # the base, degree 0..11 class, 31 points: squared error after n examples
        "transformer": {0: 3.5, 5: 1.2, 10: 0.3, 15: 0.1, 20: 0.06, 25: 0.035, 30: 0.02},
        "ridge": {10: 0.75, 20: 0.2, 30: 0.08},  # ridge 0.2, the worst method at 30
    },
    "clamping_degree_8": {  # in-context clamping, degree 8: squared error vs min(p(x), T) after n examples
        "transformer": {2: 0.6, 16: 0.3, 32: 0.25, 64: 0.03},
        "least_squares": {16: 0.65},  # 0.65-1.4 across the figure
        "zero": {64: 0.25},
    },
    "model_sizes": {  # the same by model size: the small model (64/4/2) plateaus near 0.3
        "small": {32: 0.3, 64: 0.3},
        "large": {64: 0.015},  # medium and large reach ~0.01-0.02 by 64
    },
    "aligned": {  # the aligned model, clamped degree-2 regression: squared error vs min(p(x), T)
        "transformer": {2: 0.63, 8: 0.08, 32: 0.005},  # ~0.005 from 32 examples on
        "least_squares": {80: 0.02},
    },
    "jailbreak_degree_4": {  # percent of queries jailbroken after n unclamped examples (100 x 200 queries)
        "aligned": {2: 0.0, 4: 0.036, 8: 1.15, 16: 1.58, 32: 1.82, 64: 1.56, 128: 2.06, 255: 1.94},
    },
    "finetune": {  # degree 5, k fixed coefficients: squared error after 30 examples, per method
        # its 50-pair prompt at lr 5e-5 is soft_prompt_50, at lr 5e-2 the best-rate prompt
        0: {
            "pretrained": 2.5e-3,
            "lora": 2e-3,
            "soft_prompt_2": 3.5e-3,
            "soft_prompt_50": 4e-2,
            "soft_prompt_best": 1.7e-2,
            "ridge": 1.2e-2,
        },
        1: {"pretrained": 3e-3, "lora": 2e-3, "soft_prompt_2": 4e-3, "soft_prompt_50": 4.5e-2},
        3: {
            "pretrained": 2.5e-3,
            "lora": 1.5e-3,
            "soft_prompt_2": 3e-3,
            "soft_prompt_50": 1.8e-2,
            "soft_prompt_best": 5e-3,
        },
        5: {"pretrained": 3e-3, "lora": 7e-4, "soft_prompt_2": 3e-3, "soft_prompt_50": 2e-3, "soft_prompt_best": 2e-4},
    },
    "finetune_rates": {"soft_prompt_50": 5e-5, "soft_prompt_best": 5e-2},  # the two rates of its 50-pair prompt
}
FINETUNE_AT = 30  # the examples after which the paper reports its fine-tuning errors


def reading(key: str):
    """The reading (a number, or a curve {n: value}) named by a dotted key; KeyError naming the key."""
    node = READINGS
    for part in key.split("."):
        found = [k for k in node if str(k) == part] if isinstance(node, dict) else []
        if not found:
            raise KeyError(f"no reading {key!r} of the paper's figures (polyground.readings)")
        node = node[found[0]]
    return node


def value(expression: str | float) -> float:
    """A claim's paper value: a number, a reading, ``A - B``, ``A / B`` or ``log2_slope(A)`` of readings."""
    if isinstance(expression, int | float):
        return float(expression)
    if match := re.fullmatch(r"log2_slope\((\S+)\)", expression.strip()):
        from .fits import log2_fit  # numpy and scipy, only where a slope is asked for

        curve = reading(match.group(1))
        return log2_fit(list(curve), list(curve.values()), 0.99)["slope"]
    parts = [part.strip() for part in re.split(r"\s([-/])\s", expression)]
    if len(parts) == 1:
        return float(reading(parts[0]))
    a, operator, b = parts
    return float(reading(a)) - float(reading(b)) if operator == "-" else float(reading(a)) / float(reading(b))
