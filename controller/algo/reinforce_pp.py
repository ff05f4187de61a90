"""REINFORCE++ advantages: token-level returns (outcome reward minus per-token KL), whitened
across every valid token of the batch instead of within a prompt's group (arXiv 2501.03262)."""

from __future__ import annotations

import torch
from torch import Tensor

from yatt.controller.algo.base import (
    check_inputs,
    masked_whiten,
    token_level_rewards,
)
from yatt.controller.algo.grpo import group_stats


def discounted_returns(token_rewards: Tensor, loss_mask: Tensor, gamma: float) -> Tensor:
    """G_t = r_t + gamma * G_{t+1} over valid tokens (masked positions pass G through)."""
    mask = loss_mask.to(torch.float32)
    returns = torch.zeros_like(token_rewards, dtype=torch.float32)
    running = mask.new_zeros(token_rewards.shape[0])
    for t in reversed(range(token_rewards.shape[1])):
        m = mask[:, t]
        running = m * (token_rewards[:, t] + gamma * running) + (1.0 - m) * running
        returns[:, t] = running * m
    return returns


def reinforce_pp_advantages(
    rewards: Tensor,
    group_ids: Tensor,
    loss_mask: Tensor,
    *,
    kl: Tensor | None = None,
    kl_coef: float = 0.0,
    gamma: float = 1.0,
    group_baseline: bool = False,
    eps: float = 1e-8,
) -> Tensor:
    """Whitened returns of per-token rewards -kl_coef * kl_t with r at the last valid token.

    group_baseline subtracts the group's mean reward first (REINFORCE++-baseline), which
    helps when the reward scale differs a lot between prompts.
    """
    check_inputs(rewards, group_ids, loss_mask, kl)
    rewards = rewards.to(torch.float32)
    if group_baseline:
        mean, _, _ = group_stats(rewards, group_ids)
        rewards = rewards - mean
    per_token = token_level_rewards(rewards, loss_mask, kl, kl_coef)
    returns = discounted_returns(per_token, loss_mask, gamma)
    return masked_whiten(returns, loss_mask, eps)
