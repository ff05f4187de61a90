"""PPO critic math: GAE(gamma, lambda) advantages and returns, and the clipped value loss.

Positions outside loss_mask are skipped (transparent), so gaps such as tool-output tokens
inside a completion do not cut the bootstrap chain.
"""

from __future__ import annotations

import torch
from torch import Tensor

from yatt.services.trainer.losses.aggregate import aggregate, masked_mean
from yatt.services.trainer.losses.settings import LossSettings


@torch.no_grad()
def gae(
    token_rewards: Tensor, values: Tensor, loss_mask: Tensor, gamma: float, lam: float
) -> tuple[Tensor, Tensor]:
    """Advantages and returns [B, T] by generalized advantage estimation.

    delta_t = r_t + gamma * V_{t+1} - V_t, A_t = delta_t + gamma * lam * A_{t+1}, with
    V and A after the last valid token taken as 0 (the episode ends there);
    returns = A + V. Both are zero outside loss_mask.
    """
    if not (token_rewards.shape == values.shape == loss_mask.shape):
        raise ValueError(
            f"token_rewards {tuple(token_rewards.shape)}, values {tuple(values.shape)} and "
            f"loss_mask {tuple(loss_mask.shape)} must match"
        )
    mask = loss_mask.to(values.dtype)
    batch, length = values.shape
    next_value = values.new_zeros(batch)
    next_adv = values.new_zeros(batch)
    advantages = torch.zeros_like(values)
    for t in reversed(range(length)):
        m = mask[:, t]
        delta = token_rewards[:, t] + gamma * next_value - values[:, t]
        adv = delta + gamma * lam * next_adv
        advantages[:, t] = adv * m
        # A masked position passes the carried value/advantage through unchanged.
        next_adv = m * adv + (1.0 - m) * next_adv
        next_value = m * values[:, t] + (1.0 - m) * next_value
    returns = (advantages + values) * mask
    return advantages, returns


def value_loss(
    values: Tensor,
    old_values: Tensor,
    returns: Tensor,
    loss_mask: Tensor,
    cfg: LossSettings,
    *,
    normalizer: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """value_coef * 0.5 * agg(max((V - R)^2, (V_clip - R)^2)), V_clip = V_old + clip(V - V_old).

    The clipped term keeps the critic from moving far from the values the advantages were
    computed with. metrics["value_loss"] is the term before value_coef.
    """
    if not (values.shape == old_values.shape == returns.shape == loss_mask.shape):
        raise ValueError("values, old_values, returns and loss_mask must have one shape")
    mask = loss_mask.to(values.dtype)
    old_values = old_values.detach()
    returns = returns.detach()
    clipped = old_values + (values - old_values).clamp(-cfg.value_clip, cfg.value_clip)
    loss_unclipped = (values - returns).square()
    loss_clipped = (clipped - returns).square()
    per_token = 0.5 * torch.maximum(loss_unclipped, loss_clipped)
    term = aggregate(per_token, mask, cfg.aggregation, normalizer=normalizer)
    metrics = {
        "value_loss": term.detach(),
        "value_clip_frac": masked_mean((loss_clipped > loss_unclipped).to(mask.dtype), mask),
        "value_mean": masked_mean(values.detach(), mask),
        "return_mean": masked_mean(returns, mask),
    }
    return cfg.value_coef * term, metrics
