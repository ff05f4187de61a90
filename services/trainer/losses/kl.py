"""Per-token estimators of KL(pi || ref) from log-probs of tokens sampled from pi.

k1 is unbiased but noisy and can go negative; k3 is unbiased, non-negative and low variance.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

KLEstimator = Literal["k1", "k2", "k3"]

# exp() of a log-ratio beyond this overflows float32 long before it means anything.
_MAX_LOG_RATIO = 20.0


def kl_divergence(logprobs: Tensor, ref_logprobs: Tensor, estimator: KLEstimator) -> Tensor:
    """Per-token KL estimate [B, T] for log_ratio = logprobs - ref_logprobs.

    k1 = log_ratio; k2 = log_ratio^2 / 2; k3 = exp(-log_ratio) - 1 + log_ratio
    (Schulman, "Approximating KL divergence").
    """
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        return log_ratio
    if estimator == "k2":
        return 0.5 * log_ratio.square()
    if estimator == "k3":
        log_ratio = log_ratio.clamp(-_MAX_LOG_RATIO, _MAX_LOG_RATIO)
        return torch.exp(-log_ratio) - 1.0 + log_ratio
    raise ValueError(f"unknown KL estimator {estimator!r}; known: k1, k2, k3")
