"""Clipped policy-gradient surrogate of the PPO/GRPO/DAPO family with KL, entropy and TIS terms.

One function serves every algorithm: the algorithms differ in advantages and config, not here.
"""

from __future__ import annotations

import torch
from torch import Tensor

from yatt.services.trainer.losses.aggregate import aggregate, masked_mean
from yatt.services.trainer.losses.kl import kl_divergence
from yatt.services.trainer.losses.settings import LossSettings


def _check_shapes(mask: Tensor, **tensors: Tensor | None) -> None:
    for name, tensor in tensors.items():
        if tensor is not None and tensor.shape != mask.shape:
            raise ValueError(f"{name} {tuple(tensor.shape)} != loss_mask {tuple(mask.shape)}")


def tis_weights(old_logprobs: Tensor, behaviour_logprobs: Tensor | None, cap: float) -> Tensor:
    """Truncated importance weights min(pi_old / pi_behaviour, cap), detached.

    Corrects experience sampled by an older (stale) rollout policy; 1 when on-policy.
    """
    if behaviour_logprobs is None:
        return torch.ones_like(old_logprobs)
    log_w = (old_logprobs - behaviour_logprobs).detach().clamp(max=20.0)
    return torch.exp(log_w).clamp(max=cap)


def clipped_surrogate(
    logprobs: Tensor, old_logprobs: Tensor, advantages: Tensor, cfg: LossSettings
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-token losses [B, T], the ratio, and the masks where the low/high clip binds.

    loss = max(-A * r, -A * clip(r, 1 - clip_low, 1 + clip_high)); with dual_clip c and
    A < 0 the loss is further capped at -A * c, so one huge ratio cannot blow up the step.
    """
    ratio = torch.exp((logprobs - old_logprobs).clamp(-20.0, 20.0))
    clipped = ratio.clamp(1.0 - cfg.clip_low, 1.0 + cfg.clip_high)
    unclipped_loss = -advantages * ratio
    losses = torch.maximum(unclipped_loss, -advantages * clipped)
    if cfg.dual_clip is not None:
        capped = torch.minimum(losses, -advantages * cfg.dual_clip)
        losses = torch.where(advantages < 0, capped, losses)
    clipped_high = (advantages > 0) & (ratio > 1.0 + cfg.clip_high)
    clipped_low = (advantages < 0) & (ratio < 1.0 - cfg.clip_low)
    return losses, ratio, clipped_low, clipped_high


def policy_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    loss_mask: Tensor,
    cfg: LossSettings,
    *,
    ref_logprobs: Tensor | None = None,
    behaviour_logprobs: Tensor | None = None,
    entropy: Tensor | None = None,
    normalizer: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Scalar loss = pg + kl_coef * KL - entropy_coef * entropy.

    logprobs carry the gradient; old_logprobs are the trainer's log-probs before this step
    (the ratio's denominator); behaviour_logprobs, when given, are what the rollout engine
    sampled with, and only feed the truncated IS weight. normalizer: see aggregate().
    Metrics are detached: policy_loss, kl, clip_frac(_low/_high), entropy (if given),
    ratio_mean, tis_weight_mean.
    """
    _check_shapes(
        loss_mask,
        logprobs=logprobs,
        old_logprobs=old_logprobs,
        advantages=advantages,
        ref_logprobs=ref_logprobs,
        behaviour_logprobs=behaviour_logprobs,
        entropy=entropy,
    )
    mask = loss_mask.to(logprobs.dtype)
    advantages = advantages.detach()
    losses, ratio, clipped_low, clipped_high = clipped_surrogate(
        logprobs, old_logprobs.detach(), advantages, cfg
    )
    weights = tis_weights(old_logprobs, behaviour_logprobs, cfg.tis_cap)
    pg = aggregate(losses * weights, mask, cfg.aggregation, normalizer=normalizer)
    total = pg

    kl_mean = torch.zeros((), device=logprobs.device)
    if ref_logprobs is not None:
        kl = kl_divergence(logprobs, ref_logprobs.detach(), cfg.kl_estimator)
        kl_mean = masked_mean(kl.detach(), mask)
        if cfg.kl_coef > 0.0:
            total = total + cfg.kl_coef * aggregate(
                kl, mask, cfg.aggregation, normalizer=normalizer
            )

    metrics: dict[str, Tensor] = {}
    if entropy is not None:
        if cfg.entropy_coef > 0.0:
            total = total - cfg.entropy_coef * aggregate(
                entropy, mask, cfg.aggregation, normalizer=normalizer
            )
        metrics["entropy"] = masked_mean(entropy.detach(), mask)

    metrics.update(
        policy_loss=pg.detach(),
        kl=kl_mean,
        clip_frac=masked_mean((clipped_low | clipped_high).to(mask.dtype), mask),
        clip_frac_low=masked_mean(clipped_low.to(mask.dtype), mask),
        clip_frac_high=masked_mean(clipped_high.to(mask.dtype), mask),
        ratio_mean=masked_mean(ratio.detach(), mask),
        tis_weight_mean=masked_mean(weights, mask),
    )
    return total, metrics
