"""The RL algorithm of a job: one typed spec per algorithm, a union discriminated by `name`.

The job owns it (`JobConfig.algorithm`); controllers read their side (advantages, sampling) and
the trainer its side (loss), so the two processes can never disagree. Imports no torch.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from yatt.config.loader import ConfigModel, load_config
from yatt.errors import ConfigError

KLEstimator = Literal["k1", "k2", "k3"]
KLPlacement = Literal["loss", "reward"]
Aggregation = Literal["token_mean", "seq_mean", "seq_mean_token_sum"]

# The algorithm names, in the order of the classes below (a test holds them equal).
NAMES = ("grpo", "dr_grpo", "dapo", "rloo", "reinforce_pp", "ppo")

TAG = "Which algorithm (the tag of the union)."

# Keys of the configs before the algorithm had one owner, and where each went.
RENAMED = {
    "advantage": "algorithm.name",
    "kl_coef_in_reward": "algorithm.kl_coef with algorithm.kl_placement: reward",
    "kl_in_reward": "algorithm.kl_placement: reward",
    "algorithm": "algorithm.name",
}


class _Algorithm(ConfigModel):
    """Settings every algorithm has: staleness, the clipped surrogate, KL, aggregation, entropy."""

    needs_critic: ClassVar[bool] = False

    name: str = Field(..., description="Which algorithm: " + ", ".join(NAMES) + ".")
    max_staleness: int = Field(
        1,
        ge=0,
        description="Rollout samples with a policy at most this many versions behind the "
        "trainer's, and the trainer refuses older experience (FAILED_PRECONDITION); 0 = on-policy.",
    )
    clip_low: float = Field(
        0.2, gt=0.0, lt=1.0, description="The ratio is clipped below at 1 - clip_low (PPO epsilon)."
    )
    clip_high: float = Field(
        0.2, gt=0.0, description="The ratio is clipped above at 1 + clip_high."
    )
    dual_clip: float | None = Field(
        None,
        gt=1.0,
        description="Dual-clip constant c > 1: for negative advantages the loss is capped at -A*c.",
    )
    kl_coef: float = Field(0.0, ge=0.0, description="beta: weight of KL(pi || ref); 0 = no KL.")
    kl_estimator: KLEstimator = Field(
        "k3",
        description="Per-token KL estimator of the loss term and of PPO's reward: k1 "
        "(log-ratio), k2 (squared/2), k3 (low variance). A critic-free reward KL is always k1.",
    )
    kl_placement: KLPlacement = Field(
        "loss",
        description="loss: a KL term in the trainer's loss; reward: the KL is subtracted from "
        "the reward before advantages (by the controller, or by the trainer's GAE for PPO).",
    )
    aggregation: Aggregation = Field(
        "token_mean",
        description="token_mean: over all valid tokens of the step; seq_mean: per-sequence mean, "
        "then mean over sequences; seq_mean_token_sum: per-sequence sum, then mean.",
    )
    entropy_coef: float = Field(0.0, ge=0.0, description="Entropy bonus weight (subtracted).")

    @model_validator(mode="after")
    def _kl_placement(self) -> _Algorithm:
        # A reward KL with no weight is a typo for a loss KL, or for none.
        if self.kl_placement == "reward" and self.kl_coef == 0.0:
            raise ValueError("kl_placement reward needs kl_coef > 0")
        return self

    @property
    def needs_groups(self) -> bool:
        """True when advantages compare the samples of one prompt (sampling.n >= 2)."""
        return True

    @property
    def needs_reference(self) -> bool:
        """True when some KL term needs the reference's log-probs."""
        return self.kl_coef > 0.0


class GRPO(_Algorithm):
    """GRPO: each sample's reward normalised by its prompt group's mean and std."""

    name: Literal["grpo"] = Field("grpo", description=TAG)


class DrGRPO(_Algorithm):
    """Dr. GRPO: GRPO without the std division (no bias towards low-variance prompts)."""

    name: Literal["dr_grpo"] = Field("dr_grpo", description=TAG)


class OverlongShaping(ConfigModel):
    """DAPO overlong shaping: a soft penalty for completions in the last `buffer` tokens."""

    enabled: bool = Field(True, description="Apply the penalty.")
    buffer: int = Field(8, gt=0, description="Tokens before max_new_tokens where it ramps up.")
    penalty: float = Field(1.0, ge=0, description="Penalty at max_new_tokens.")


class DAPO(_Algorithm):
    """DAPO: GRPO advantages with clip-higher, token-mean loss, dynamic sampling, overlong shaping."""

    name: Literal["dapo"] = Field("dapo", description=TAG)
    clip_high: float = Field(0.28, gt=0.0, description="Clip-higher: 1 + clip_high above.")
    dynamic_sampling: bool = Field(
        True, description="Drop groups whose rewards are all equal and sample more prompts."
    )
    max_refills: int = Field(
        2, ge=0, description="Dynamic sampling: re-sampling rounds per shard at most."
    )
    overlong: OverlongShaping = Field(
        default_factory=OverlongShaping, description="Overlong reward shaping."
    )


class RLOO(_Algorithm):
    """RLOO: each sample's baseline is the mean reward of the other samples of its prompt."""

    name: Literal["rloo"] = Field("rloo", description=TAG)


class ReinforcePP(_Algorithm):
    """REINFORCE++: token-level returns whitened over the batch, no groups needed."""

    name: Literal["reinforce_pp"] = Field("reinforce_pp", description=TAG)
    gamma: float = Field(1.0, ge=0.0, le=1.0, description="Discount of the token-level returns.")
    group_baseline: bool = Field(
        False, description="Subtract the prompt group's mean reward first (REINFORCE++-baseline)."
    )

    @property
    def needs_groups(self) -> bool:
        return self.group_baseline


class PPO(_Algorithm):
    """PPO: the trainer's critic estimates values; advantages come from GAE in the trainer."""

    needs_critic: ClassVar[bool] = True

    name: Literal["ppo"] = Field("ppo", description=TAG)
    value_coef: float = Field(0.5, ge=0.0, description="Weight of the critic loss.")
    value_clip: float = Field(
        0.2, gt=0.0, description="New values stay within old values +- value_clip when clipped."
    )
    gamma: float = Field(1.0, ge=0.0, le=1.0, description="Discount of GAE.")
    gae_lambda: float = Field(0.95, ge=0.0, le=1.0, description="Lambda of GAE.")

    @property
    def needs_groups(self) -> bool:
        return False


ALGORITHMS: tuple[type[_Algorithm], ...] = (GRPO, DrGRPO, DAPO, RLOO, ReinforcePP, PPO)


def _named(data: Any) -> Any:
    """Refuses the keys of the old split configs by name, and a section without a name."""
    if not isinstance(data, dict):
        return data
    for old, new in RENAMED.items():
        if old in data:
            raise ValueError(f"{old!r} is now {new}")
    if "name" not in data:
        raise ValueError(f"'name' is required: one of {', '.join(NAMES)}")
    return data


AlgorithmSpec = Annotated[
    GRPO | DrGRPO | DAPO | RLOO | ReinforcePP | PPO,
    Field(discriminator="name"),
    BeforeValidator(_named),
]
"""One of the algorithms, chosen by `name`; each carries exactly its own settings."""


class _JobSection(ConfigModel):
    """The part of a job config that holds the algorithm (the rest is the controller's)."""

    model_config = ConfigDict(extra="ignore")

    algorithm: AlgorithmSpec = Field(default_factory=GRPO, description="As JobConfig.algorithm.")


def parse_algorithm(data: Any) -> AlgorithmSpec:
    """The spec of a mapping such as a job config's `algorithm` section; ConfigError naming the
    key (algorithm.<name>.<key>) otherwise."""
    return load_config(_JobSection, data={"algorithm": data}).algorithm


def algorithm_of_job(text: str) -> AlgorithmSpec:
    """The algorithm of a job config as `yatt train` writes it into etcd (YAML text).

    Read by the trainer, which must not import the controller's JobConfig; a job config
    without the section has the JobConfig default.
    """
    raw = yaml.safe_load(text) or {}
    if not isinstance(raw, dict):
        raise ConfigError("job config: top level must be a mapping")
    return load_config(_JobSection, data=raw).algorithm
