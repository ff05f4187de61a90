"""One optimizer step on one rank: old log-probs/values without grad, then micro-batches with
gradient accumulation through the step modules (DeepSpeed's or plain torch), returning sums."""

from __future__ import annotations

import torch

from yatt.services.trainer.batching import Batch, StepPlan
from yatt.services.trainer.config import TrainerConfig
from yatt.services.trainer.losses import gae, kl_divergence, policy_loss, value_loss
from yatt.services.trainer.losses.settings import LossSettings
from yatt.services.trainer.modules import critic_values, policy_forward
from yatt.services.trainer.step_modules import StepModules

# Metrics that are (micro-batch shares of) the step's loss: summed, not averaged.
SUMMED = frozenset({"policy_loss", "value_loss"})


def token_rewards(mb: Batch, logprobs: torch.Tensor, cfg: LossSettings) -> torch.Tensor:
    """PPO rewards per token: the sequence reward on its last completion token, minus
    kl_reward_coef * KL(policy || ref) on every token when the KL shapes the reward."""
    mask = mb.loss_mask
    out = torch.zeros_like(mask)
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    last = torch.where(mask > 0, positions, -1).max(dim=1).values.clamp(min=0)
    out.scatter_(1, last.unsqueeze(1), mb.rewards.to(out.dtype).unsqueeze(1))
    if cfg.kl_reward_coef > 0.0 and mb.ref_logprobs is not None:
        kl = kl_divergence(logprobs, mb.ref_logprobs, cfg.kl_estimator)
        out = out - cfg.kl_reward_coef * kl * mask
    return out


def _prepare(
    modules: StepModules, cfg: TrainerConfig, loss: LossSettings, mb: Batch
) -> dict[str, torch.Tensor | None]:
    """The targets of one micro-batch, computed with the weights as they were before the step."""
    behaviour = mb.old_logprobs
    old, old_values = behaviour, None
    if cfg.recompute_old_logprobs or cfg.critic.kind == "value_head":
        out = policy_forward(modules.policy, mb.input_ids, mb.attention_mask, entropy=False)
        if cfg.recompute_old_logprobs:
            old = out.logprobs * mb.loss_mask
        old_values = out.values
    if modules.critic is not None:
        old_values = critic_values(modules.critic, mb.input_ids, mb.attention_mask)
    advantages, returns = mb.advantages, None
    if loss.uses_critic:
        assert old_values is not None
        rewards = token_rewards(mb, behaviour, loss)
        advantages, returns = gae(rewards, old_values, mb.loss_mask, loss.gamma, loss.gae_lambda)
    return {
        "old": old,
        # Only a trainer-side recompute makes the pushed log-probs a distinct behaviour policy.
        "behaviour": behaviour if cfg.recompute_old_logprobs else None,
        "advantages": advantages,
        "old_values": old_values,
        "returns": returns,
    }


def train_step(
    modules: StepModules,
    cfg: TrainerConfig,
    loss_cfg: LossSettings,
    part: Batch,
    plan: StepPlan,
    world_size: int,
) -> dict[str, float]:
    """Runs grad_accum micro-batches of this rank's part and the optimizer step.

    loss_cfg travels with each step command (it comes from the job, which ranks 1..n-1
    never read).

    Returns sums over this rank (token-weighted metric sums, loss, tokens), to be added
    across ranks by the caller.
    """
    gas = cfg.grad_accum
    micro = [mb.to(modules.device) for mb in part.split(gas)]
    for module in modules.all():
        module.train()
    with torch.no_grad():
        targets = [_prepare(modules, cfg, loss_cfg, mb) for mb in micro]
    # DeepSpeed divides each backward by gas and averages gradients over ranks; the losses are
    # already normalised by the whole step's token (or sequence) count, so undo both.
    scale = float(gas * world_size)
    sums: dict[str, float] = {"loss": 0.0, "tokens": 0.0}
    for mb, t in zip(micro, targets, strict=True):
        out = policy_forward(
            modules.policy, mb.input_ids, mb.attention_mask, entropy=True,
            entropy_grad=loss_cfg.entropy_coef > 0,
        )  # fmt: skip
        assert t["advantages"] is not None
        loss, metrics = policy_loss(
            out.logprobs * mb.loss_mask,
            t["old"],  # type: ignore[arg-type]
            t["advantages"],
            mb.loss_mask,
            loss_cfg,
            ref_logprobs=mb.ref_logprobs,
            behaviour_logprobs=t["behaviour"],
            entropy=out.entropy,
            normalizer=plan.normalizer,
        )
        critic_loss = None
        if loss_cfg.uses_critic:
            values = out.values
            if modules.critic is not None:
                values = critic_values(modules.critic, mb.input_ids, mb.attention_mask)
            assert values is not None
            critic_loss, vmetrics = value_loss(
                values, t["old_values"], t["returns"], mb.loss_mask, loss_cfg,  # type: ignore[arg-type]
                normalizer=plan.normalizer,
            )  # fmt: skip
            metrics.update(vmetrics)
            if modules.critic is None:
                loss = loss + critic_loss
        modules.policy.backward(loss * scale)
        modules.policy.step()
        if modules.critic is not None and critic_loss is not None:
            modules.critic.backward(critic_loss * scale)
            modules.critic.step()
        tokens = float(mb.loss_mask.sum())
        sums["loss"] += float(loss.detach()) + (
            float(critic_loss.detach())
            if modules.critic is not None and critic_loss is not None
            else 0.0
        )
        sums["tokens"] += tokens
        for name, value in metrics.items():
            # Loss terms are already parts of the step-wide loss; the rest are per-token means.
            weight = 1.0 if name in SUMMED else tokens
            sums[f"sum.{name}"] = sums.get(f"sum.{name}", 0.0) + float(value) * weight
    grad_norm = modules.policy.get_global_grad_norm()
    sums["grad_norm"] = float(grad_norm) if grad_norm is not None else float("nan")
    return sums


def combine(per_rank: list[dict[str, float]]) -> dict[str, float]:
    """Adds the ranks' sums and turns token-weighted sums into means."""
    tokens = sum(r["tokens"] for r in per_rank)
    out: dict[str, float] = {
        "loss": sum(r["loss"] for r in per_rank),
        "grad_norm": per_rank[0]["grad_norm"],
    }
    names = {k for r in per_rank for k in r if k.startswith("sum.")}
    for key in sorted(names):
        total = sum(r.get(key, 0.0) for r in per_rank)
        out[key[4:]] = total if key[4:] in SUMMED else total / max(tokens, 1.0)
    out["loss_tokens"] = tokens
    return out
