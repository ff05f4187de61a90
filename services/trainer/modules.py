"""The trained modules: the policy LM (optionally with a value head) and a separate critic.

policy_forward computes log-probs exactly as yatt.models.logprobs.token_logprobs does (a test
holds them equal), plus the entropy and hidden states that function does not return.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from yatt.models.logprobs import logprobs_from_logits, position_ids_for
from yatt.services.trainer.config import TrainerConfig
from yatt.services.trainer.losses import entropy_from_logits


class ValueHead(nn.Module):
    """A scalar value per position from the last hidden state."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.proj = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.proj(hidden).squeeze(-1).float()


class ActorCritic(nn.Module):
    """The policy LM plus an optional value head, trained as one DeepSpeed module.

    forward returns the LM's output (logits, hidden states) and values [B, T] or None.
    """

    def __init__(self, lm: nn.Module, value_head: bool) -> None:
        super().__init__()
        self.lm = lm
        hidden = int(lm.config.hidden_size)  # type: ignore[union-attr, arg-type]
        self.value_head = ValueHead(hidden) if value_head else None

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kw: object):  # type: ignore[override]
        want_hidden = self.value_head is not None
        out = self.lm(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids_for(attention_mask),
            use_cache=False,
            output_hidden_states=want_hidden,
        )
        values = None
        if self.value_head is not None:
            values = self.value_head(out.hidden_states[-1])
        return out.logits, values


class Critic(nn.Module):
    """A separate value model: a causal LM's backbone with a value head (kind: separate)."""

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm
        self.value_head = ValueHead(int(lm.config.hidden_size))  # type: ignore[union-attr, arg-type]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = self.lm(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids_for(attention_mask),
            use_cache=False,
            output_hidden_states=True,
        )
        return self.value_head(out.hidden_states[-1])


def load_trained_modules(cfg: TrainerConfig) -> tuple[ActorCritic, Critic | None]:
    """The policy (with a value head for critic kind value_head) and a separate critic, loaded
    from their directories after seeding torch with cfg.seed, so every rank starts the same."""
    from yatt.models.load import load_causal_lm

    dtype = torch.bfloat16 if cfg.deepspeed.precision == "bfloat16" else torch.float32
    torch.manual_seed(cfg.seed)
    lm = load_causal_lm(cfg.model, dtype=dtype).train()
    policy = ActorCritic(lm, cfg.critic.kind == "value_head")
    if cfg.critic.kind != "separate":
        return policy, None
    assert cfg.critic.model is not None
    return policy, Critic(load_causal_lm(cfg.critic.model, dtype=dtype).train())


@dataclass
class PolicyOutput:
    """All [B, T] aligned with input_ids (column 0 is 0): log-probs, entropy, values or None."""

    logprobs: torch.Tensor
    entropy: torch.Tensor
    values: torch.Tensor | None


def _shift_right(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([torch.zeros_like(x[:, :1]), x], dim=1)


def policy_forward(
    model: Callable[..., Any],
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    entropy: bool = True,
    entropy_grad: bool = False,
) -> PolicyOutput:
    """Runs model (an ActorCritic, or a step module wrapping one).

    The entropy keeps its graph only with entropy_grad (an entropy bonus); as a metric it is
    computed without one, which saves a [B, T, V] activation.
    """
    logits, values = model(input_ids=input_ids, attention_mask=attention_mask)
    logprobs = _shift_right(logprobs_from_logits(logits, input_ids, attention_mask))
    if entropy and entropy_grad:
        ent = _shift_right(entropy_from_logits(logits[:, :-1, :]))
    elif entropy:
        with torch.no_grad():
            ent = _shift_right(entropy_from_logits(logits.detach()[:, :-1, :]))
    else:
        ent = torch.zeros_like(logprobs)
    if values is not None:
        # The value of the state before token t predicts the return of emitting token t.
        values = _shift_right(values[:, :-1])
    return PolicyOutput(logprobs, ent, values)


def critic_values(
    critic: Callable[..., Any], input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """[B, T] values aligned like policy_forward's."""
    return _shift_right(critic(input_ids=input_ids, attention_mask=attention_mask)[:, :-1])


def policy_tensors(lm: nn.Module) -> dict[str, torch.Tensor]:
    """Distinct parameters (tied names once, under their first name) plus persistent buffers,
    as CPU copies: what a rollout engine loads (matches yatt.models.weights.spec_of)."""
    out = {name: p.detach().to("cpu", copy=True) for name, p in lm.named_parameters()}
    persistent = set(lm.state_dict(keep_vars=True))
    for name, b in lm.named_buffers():
        if name in persistent:
            out[name] = b.detach().to("cpu", copy=True)
    return out


def weights_digest(lm: nn.Module) -> str:
    """sha256 of the parameters' names and bytes (ranks compare it to detect divergence)."""
    digest = hashlib.sha256()
    for name, p in lm.named_parameters():
        digest.update(name.encode())
        digest.update(p.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
