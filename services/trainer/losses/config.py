"""Typed, documented loss settings of the trainer (policy clip, KL, aggregation, critic).

Imports no torch, so configs can be loaded and validated by processes that never train.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from yatt.config.loader import ConfigModel

Algorithm = Literal["grpo", "dapo", "rloo", "reinforce_pp", "ppo"]
KLEstimator = Literal["k1", "k2", "k3"]
Aggregation = Literal["token_mean", "seq_mean", "seq_mean_token_sum"]


class LossConfig(ConfigModel):
    """How the trainer turns log-probs, advantages and values into one scalar loss."""

    algorithm: Algorithm = Field(
        "grpo",
        description="RL algorithm; 'ppo' trains a critic (value loss, GAE), the others are critic-free",
    )
    clip_low: float = Field(
        0.2, gt=0.0, lt=1.0, description="ratio is clipped below at 1 - clip_low (PPO epsilon)"
    )
    clip_high: float = Field(
        0.2, gt=0.0, description="ratio is clipped above at 1 + clip_high (DAPO clip-higher: 0.28)"
    )
    dual_clip: float | None = Field(
        None,
        gt=1.0,
        description="dual-clip constant c > 1: for negative advantages the loss is capped at -A*c",
    )
    kl_coef: float = Field(0.0, ge=0.0, description="beta: weight of KL(pi || ref)")
    kl_estimator: KLEstimator = Field(
        "k3",
        description="per-token KL estimator: k1 (log-ratio), k2 (squared/2), k3 (low variance)",
    )
    kl_in_reward: bool = Field(
        False,
        description="KL is subtracted from the reward before advantages (no KL loss term then)",
    )
    aggregation: Aggregation = Field(
        "token_mean",
        description="token_mean: over all valid tokens of the batch; seq_mean: per-sequence mean "
        "then mean over sequences; seq_mean_token_sum: per-sequence sum then mean over sequences",
    )
    entropy_coef: float = Field(
        0.0, ge=0.0, description="entropy bonus weight (subtracted from the loss)"
    )
    tis_cap: float = Field(
        2.0,
        ge=1.0,
        description="truncated importance sampling cap on exp(old_logprobs - behaviour_logprobs)",
    )
    value_clip: float = Field(
        0.2,
        gt=0.0,
        description="new values stay within old_values +- value_clip in the clipped term",
    )
    value_coef: float = Field(0.5, ge=0.0, description="weight of the critic loss (ppo only)")
    gamma: float = Field(1.0, ge=0.0, le=1.0, description="discount of GAE (ppo only)")
    gae_lambda: float = Field(0.95, ge=0.0, le=1.0, description="lambda of GAE (ppo only)")

    @model_validator(mode="after")
    def _kl_placement(self) -> LossConfig:
        # KL either shapes the reward or is a loss term; both at once would count it twice.
        if self.kl_in_reward and self.kl_coef == 0.0:
            raise ValueError("kl_in_reward needs kl_coef > 0")
        return self

    @property
    def uses_critic(self) -> bool:
        """True when the trainer trains a value model and computes GAE itself."""
        return self.algorithm == "ppo"
