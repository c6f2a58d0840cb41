"""The in-context regressor of Garg et al. (2022), as used by the paper.

Tokens interleave x and y (x_1, y_1, x_2, y_2, ...). Each scalar is read in by Linear(1, n_embd),
passed through a GPT-2 backbone (``transformers.GPT2Model`` fed ``inputs_embeds``: no vocabulary,
learned absolute positions, all dropout 0) and read out by Linear(n_embd, 1). The prediction for
y_i is read at the position of x_i, so it sees the i earlier pairs and x_i, never y_i.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import GPT2Config, GPT2Model


class InContextRegressor(nn.Module):
    """Read-in -> GPT2Model -> read-out over interleaved (x, y) tokens."""

    def __init__(self, n_embd: int, n_layer: int, n_head: int, n_positions: int) -> None:
        super().__init__()
        self.config = GPT2Config(
            n_positions=n_positions,
            n_embd=n_embd,
            n_layer=n_layer,
            n_head=n_head,
            vocab_size=1,  # tokens are continuous; the unused word embedding is kept tiny and frozen
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            use_cache=False,
            bos_token_id=None,
            eos_token_id=None,
        )
        self.read_in = nn.Linear(1, n_embd)
        self.backbone = GPT2Model(self.config)
        self.backbone.wte.weight.requires_grad_(False)
        self.read_out = nn.Linear(n_embd, 1)

    @property
    def max_points(self) -> int:
        """The most (x, y) pairs that fit the learned positions."""
        return self.config.n_positions // 2

    @staticmethod
    def interleave(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        """(B, N), (B, N) -> (B, 2N, 1) as x_1, y_1, x_2, y_2, ..."""
        return torch.stack((xs, ys), dim=2).reshape(xs.shape[0], -1, 1)

    @property
    def prompt_tokens(self) -> int:
        """Soft-prompt tokens the backbone prepends (a ``peft`` prompt-tuning wrapper), else 0."""
        config = getattr(self.backbone, "active_peft_config", None)
        return config.num_virtual_tokens if config is not None and config.is_prompt_learning else 0

    def forward(self, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        """Predict every y_i from (x_1, y_1, ..., x_i): (B, N), (B, N) -> (B, N)."""
        embeds = self.read_in(self.interleave(xs, ys))
        prompt = self.prompt_tokens
        if prompt + embeds.shape[1] > self.config.n_positions:
            raise ValueError(
                f"{prompt + embeds.shape[1]} tokens do not fit the model's {self.config.n_positions} positions "
                f"({xs.shape[1]} points{f' after {prompt} soft-prompt tokens' if prompt else ''})"
            )
        hidden = self.backbone(inputs_embeds=embeds).last_hidden_state
        return self.read_out(hidden[:, prompt::2]).squeeze(-1)


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
