"""RLOO advantages: each sample's baseline is the mean reward of the other samples of its prompt.

Leave-one-out keeps the baseline independent of the sample, so the estimate stays unbiased.
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


def rloo_advantages(
    rewards: Tensor,
    group_ids: Tensor,
    loss_mask: Tensor,
    *,
    kl: Tensor | None = None,
    kl_coef: float = 0.0,
) -> Tensor:
    """A_i = r_i - (sum_group - r_i) / (n - 1); a group of one has no baseline and gets 0."""
    check_inputs(rewards, group_ids, loss_mask, kl)
    rewards = sequence_kl_penalty(rewards.to(torch.float32), loss_mask, kl, kl_coef)
    index, counts = group_index(group_ids)
    sums = rewards.new_zeros(counts.shape[0]).index_add_(0, index, rewards)[index]
    n = counts[index].to(torch.float32)
    baseline = (sums - rewards) / (n - 1.0).clamp(min=1.0)
    per_sample = torch.where(n > 1, rewards - baseline, torch.zeros_like(rewards))
    return broadcast_to_tokens(per_sample, loss_mask)
