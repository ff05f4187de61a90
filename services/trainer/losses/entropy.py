"""Token entropy of the policy's next-token distribution, for the entropy bonus and metrics.

Computed from logits with logsumexp so large vocabularies stay numerically stable.
"""

from __future__ import annotations

import torch
from torch import Tensor


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy [..] of softmax(logits [.., V]): logsumexp(z) - sum(softmax(z) * z)."""
    logits = logits.float()
    probs = torch.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(dim=-1)


def masked_entropy(logits: Tensor, loss_mask: Tensor) -> Tensor:
    """Entropy [B, T] of logits [B, T, V], zero where loss_mask is 0."""
    if logits.shape[:-1] != loss_mask.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} do not match loss_mask {tuple(loss_mask.shape)}"
        )
    return entropy_from_logits(logits) * loss_mask.to(torch.float32)
