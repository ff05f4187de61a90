"""GRPO advantages: each sample's reward normalized within its prompt's group of samples.

dr_grpo (Dr. GRPO, "Understanding R1-Zero-like training") drops the std division, which
otherwise up-weights prompts whose groups have low reward variance.
"""

from __future__ import annotations

import torch
from torch import Tensor

from yatt.controller.algo.base import (
    broadcast_to_tokens,
    check_inputs,
    group_index,
    sequence_kl_penalty,
)


def group_stats(rewards: Tensor, group_ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-sample group mean, unbiased group std (0 for groups of one) and group size, each [B]."""
    index, counts = group_index(group_ids)
    rewards = rewards.to(torch.float32)
    sums = rewards.new_zeros(counts.shape[0]).index_add_(0, index, rewards)
    means = sums / counts
    sq = rewards.new_zeros(counts.shape[0]).index_add_(0, index, (rewards - means[index]).square())
    std = torch.where(counts > 1, (sq / (counts - 1).clamp(min=1)).sqrt(), torch.zeros_like(sq))
    return means[index], std[index], counts[index]


def grpo_advantages(
    rewards: Tensor,
    group_ids: Tensor,
    loss_mask: Tensor,
    *,
    kl: Tensor | None = None,
    norm_by_std: bool = True,
    eps: float = 1e-6,
    kl_coef: float = 0.0,
) -> Tensor:
    """A_i = (r_i - mean_group) / (std_group + eps) on every valid token of sample i.

    With kl_coef > 0 (KL in reward) r_i is first reduced by kl_coef * sum_t kl_it.
    """
    check_inputs(rewards, group_ids, loss_mask, kl)
    rewards = sequence_kl_penalty(rewards.to(torch.float32), loss_mask, kl, kl_coef)
    mean, std, _ = group_stats(rewards, group_ids)
    centered = rewards - mean
    per_sample = centered / (std + eps) if norm_by_std else centered
    return broadcast_to_tokens(per_sample, loss_mask)


def dr_grpo_advantages(
    rewards: Tensor,
    group_ids: Tensor,
    loss_mask: Tensor,
    *,
    kl: Tensor | None = None,
    kl_coef: float = 0.0,
) -> Tensor:
    """A_i = r_i - mean_group: GRPO without the std normalization."""
    return grpo_advantages(rewards, group_ids, loss_mask, kl=kl, norm_by_std=False, kl_coef=kl_coef)
