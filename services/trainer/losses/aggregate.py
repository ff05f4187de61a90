"""Reduces a per-token loss [B, T] to a scalar: token-mean, sequence-mean or seq-mean-token-sum.

The choice changes how long and short completions are weighted (DAPO argues for token-mean).
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor

Aggregation = Literal["token_mean", "seq_mean", "seq_mean_token_sum"]


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of values over positions where mask is 1 (0 when the mask is empty)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def aggregate(
    losses: Tensor, mask: Tensor, mode: Aggregation, *, normalizer: float | None = None
) -> Tensor:
    """Scalar loss from per-token losses [B, T].

    normalizer replaces the local denominator (valid tokens for token_mean, non-empty
    sequences for the seq modes) so that micro-batches of one optimizer step, each divided
    by the step-wide count, sum to the loss of the whole batch under gradient accumulation.
    Sequences with no valid token do not count as sequences.
    """
    if losses.shape != mask.shape:
        raise ValueError(f"losses {tuple(losses.shape)} and mask {tuple(mask.shape)} differ")
    mask = mask.to(losses.dtype)
    masked = losses * mask
    if mode == "token_mean":
        if normalizer is not None:
            return masked.sum() / max(float(normalizer), 1.0)
        return masked.sum() / mask.sum().clamp(min=1.0)
    tokens_per_seq = mask.sum(dim=-1)
    present = (tokens_per_seq > 0).to(losses.dtype)
    if mode == "seq_mean":
        per_seq = masked.sum(dim=-1) / tokens_per_seq.clamp(min=1.0)
    elif mode == "seq_mean_token_sum":
        per_seq = masked.sum(dim=-1)
    else:
        raise ValueError(f"unknown aggregation {mode!r}")
    if normalizer is not None:
        return (per_seq * present).sum() / max(float(normalizer), 1.0)
    return (per_seq * present).sum() / present.sum().clamp(min=1.0)
