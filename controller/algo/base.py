"""The advantage-estimator interface and the masked tensor helpers every estimator shares.

An estimator maps per-sample rewards (plus group ids and per-token KL) to per-token advantages.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

from yatt.errors import InvalidArgument


class AdvantageEstimator(Protocol):
    """Per-token advantages [B, T], zero outside loss_mask; options are keyword-only."""

    def __call__(
        self,
        rewards: Tensor,
        group_ids: Tensor,
        loss_mask: Tensor,
        *,
        kl: Tensor | None = None,
        **options: float | bool,
    ) -> Tensor: ...


def check_inputs(
    rewards: Tensor, group_ids: Tensor, loss_mask: Tensor, kl: Tensor | None = None
) -> None:
    """Raises InvalidArgument on shapes, dtypes or non-finite values an estimator cannot use."""
    if rewards.dim() != 1:
        raise InvalidArgument(f"rewards must be [B], got shape {tuple(rewards.shape)}")
    if not rewards.is_floating_point():
        raise InvalidArgument(f"rewards must be floating point, got {rewards.dtype}")
    if not torch.isfinite(rewards).all():
        bad = torch.nonzero(~torch.isfinite(rewards)).flatten().tolist()
        raise InvalidArgument(f"rewards are NaN or inf at samples {bad}")
    if group_ids.shape != rewards.shape or group_ids.dtype != torch.int64:
        raise InvalidArgument(
            f"group_ids must be int64 [B={rewards.shape[0]}], "
            f"got {group_ids.dtype} {tuple(group_ids.shape)}"
        )
    if loss_mask.dim() != 2 or loss_mask.shape[0] != rewards.shape[0]:
        raise InvalidArgument(
            f"loss_mask must be [B={rewards.shape[0]}, T], got {tuple(loss_mask.shape)}"
        )
    if kl is not None:
        if kl.shape != loss_mask.shape:
            raise InvalidArgument(f"kl {tuple(kl.shape)} != loss_mask {tuple(loss_mask.shape)}")
        if not torch.isfinite(kl).all():
            raise InvalidArgument("kl has NaN or inf values")


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean over positions where mask is 1 (0 for an empty mask)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def masked_whiten(values: Tensor, mask: Tensor, eps: float = 1e-8) -> Tensor:
    """(x - mean) / (std + eps) over the valid positions (population std), zero elsewhere."""
    mask = mask.to(values.dtype)
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean).square(), mask)
    return (values - mean) / (var.sqrt() + eps) * mask


def broadcast_to_tokens(per_sample: Tensor, loss_mask: Tensor) -> Tensor:
    """[B] -> [B, T]: every valid token of a sample gets that sample's advantage."""
    return per_sample.to(torch.float32)[:, None] * loss_mask.to(torch.float32)


def sequence_kl_penalty(
    rewards: Tensor, loss_mask: Tensor, kl: Tensor | None, kl_coef: float
) -> Tensor:
    """rewards - kl_coef * sum_t kl: KL-in-reward for estimators that work on sequence rewards."""
    if kl_coef == 0.0:
        return rewards
    if kl is None:
        raise InvalidArgument("kl_coef > 0 needs the per-token kl tensor")
    return rewards - kl_coef * (kl * loss_mask.to(kl.dtype)).sum(dim=-1)


def token_level_rewards(
    rewards: Tensor, loss_mask: Tensor, kl: Tensor | None = None, kl_coef: float = 0.0
) -> Tensor:
    """Per-token rewards [B, T]: -kl_coef * kl on valid tokens, plus the sample's scalar
    reward on its last valid token (the outcome arrives when the completion ends)."""
    mask = loss_mask.to(torch.float32)
    out = torch.zeros_like(mask)
    if kl_coef != 0.0:
        if kl is None:
            raise InvalidArgument("kl_coef > 0 needs the per-token kl tensor")
        out = out - kl_coef * kl.to(torch.float32) * mask
    length = mask.shape[1]
    positions = torch.arange(length, dtype=torch.float32, device=mask.device).expand_as(mask)
    last = torch.where(mask > 0, positions, torch.full_like(mask, -1.0)).max(dim=1).values.long()
    has_tokens = last >= 0
    rows = torch.nonzero(has_tokens).flatten()
    out[rows, last[rows]] += rewards.to(torch.float32)[rows]
    return out


def group_index(group_ids: Tensor) -> tuple[Tensor, Tensor]:
    """Dense group index per sample [B] and the size of each group [G]."""
    _, inverse, counts = torch.unique(group_ids, return_inverse=True, return_counts=True)
    return inverse, counts
