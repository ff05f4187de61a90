"""LossSettings: what the trainer's loss functions read, built from the job's algorithm spec.

Not a config: the job owns the algorithm (yatt.config.algorithm); this is the trainer's view
of it, with each KL weight resolved to where the trainer applies it. Imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from yatt.config.algorithm import PPO, Aggregation, AlgorithmSpec, KLEstimator


@dataclass(frozen=True)
class LossSettings:
    """The clipped surrogate, KL, entropy, TIS and (PPO) critic settings of one trainer."""

    clip_low: float = 0.2
    clip_high: float = 0.2
    dual_clip: float | None = None
    # Weight of the KL loss term; 0 when the KL goes into the reward instead.
    kl_coef: float = 0.0
    kl_estimator: KLEstimator = "k3"
    # Weight of the KL the trainer subtracts from PPO's token rewards before GAE. A critic-free
    # reward KL is applied by the controller, so the trainer sees 0 here for those.
    kl_reward_coef: float = 0.0
    aggregation: Aggregation = "token_mean"
    entropy_coef: float = 0.0
    tis_cap: float = 2.0
    uses_critic: bool = False
    value_clip: float = 0.2
    value_coef: float = 0.5
    gamma: float = 1.0
    gae_lambda: float = 0.95

    @property
    def needs_ref_logprobs(self) -> bool:
        return self.kl_coef > 0.0 or self.kl_reward_coef > 0.0

    @classmethod
    def from_spec(cls, spec: AlgorithmSpec, tis_cap: float = 2.0) -> LossSettings:
        """The trainer's side of spec; tis_cap is the trainer's own (it pairs with its
        recompute_old_logprobs, a mechanic of the trainer, not of the algorithm)."""
        in_loss = spec.kl_placement == "loss"
        common = cls(
            clip_low=spec.clip_low,
            clip_high=spec.clip_high,
            dual_clip=spec.dual_clip,
            kl_coef=spec.kl_coef if in_loss else 0.0,
            kl_estimator=spec.kl_estimator,
            aggregation=spec.aggregation,
            entropy_coef=spec.entropy_coef,
            tis_cap=tis_cap,
        )
        if not isinstance(spec, PPO):
            return common
        return replace(
            common,
            kl_reward_coef=0.0 if in_loss else spec.kl_coef,
            uses_critic=True,
            value_clip=spec.value_clip,
            value_coef=spec.value_coef,
            gamma=spec.gamma,
            gae_lambda=spec.gae_lambda,
        )
