"""DAPO overlong reward shaping: a linear penalty inside a buffer zone before the maximum
length and -1 beyond it, so truncated samples are not rewarded or punished as if complete."""

from __future__ import annotations

import torch
from torch import Tensor

from yatt.errors import InvalidArgument


def overlong_penalty(
    lengths: Tensor, max_length: int, buffer_length: int, penalty_factor: float = 1.0
) -> Tensor:
    """Penalty [B] (<= 0) for completion lengths [B]:

    0 if L <= max_length - buffer_length;
    ((max_length - buffer_length) - L) / buffer_length inside the buffer (0 down to -1);
    -1 if L > max_length. Scaled by penalty_factor.
    """
    if not 0 < buffer_length <= max_length:
        raise InvalidArgument(
            f"overlong buffer_length must be in (0, max_length={max_length}], got {buffer_length}"
        )
    lengths = lengths.to(torch.float32)
    if (lengths < 0).any():
        raise InvalidArgument("completion lengths must be >= 0")
    start = float(max_length - buffer_length)
    inside = (start - lengths) / buffer_length
    penalty = torch.where(lengths <= start, torch.zeros_like(lengths), inside)
    penalty = torch.where(lengths > max_length, torch.full_like(lengths, -1.0), penalty)
    return penalty * penalty_factor


def apply_overlong_penalty(
    rewards: Tensor,
    lengths: Tensor,
    max_length: int,
    buffer_length: int,
    penalty_factor: float = 1.0,
) -> Tensor:
    """rewards + overlong_penalty(lengths, ...): the shaped reward the advantages see."""
    if rewards.shape != lengths.shape:
        raise InvalidArgument(f"rewards {tuple(rewards.shape)} != lengths {tuple(lengths.shape)}")
    return rewards.to(torch.float32) + overlong_penalty(
        lengths, max_length, buffer_length, penalty_factor
    )
