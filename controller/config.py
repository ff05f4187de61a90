"""JobConfig (what `yatt train` submits and every controller reads from etcd) and
ControllerConfig (one controller process). Imports no torch and no grpc.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from yatt.config.algorithm import DAPO, GRPO, AlgorithmSpec
from yatt.config.common import EtcdConfig, MetricsConfig
from yatt.config.loader import ConfigModel


class DataConfig(ConfigModel):
    """The prompt dataset, split into shards per epoch (references, never copied into etcd)."""

    path: str = Field(..., description="JSONL or Parquet file of prompts (read with `datasets`).")
    prompt_column: str = Field("prompt", description="Column holding the prompt text.")
    metadata_columns: list[str] = Field(
        default_factory=list,
        description="Columns passed to reward functions as metadata (e.g. the reference answer).",
    )
    payload_column: str | None = Field(
        None, description="Optional bytes column travelling with each sample (e.g. image features)."
    )
    shard_size: int = Field(8, gt=0, description="Prompts per shard.")
    epochs: int = Field(1, gt=0, description="Passes over the dataset.")
    max_prompts: int | None = Field(None, gt=0, description="Use only the first N rows.")


class SamplingConfig(ConfigModel):
    """How rollout samples each prompt of a shard."""

    n: int = Field(4, gt=0, description="Samples per prompt (the group for GRPO/RLOO).")
    temperature: float = Field(1.0, ge=0, description="0 means greedy.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus mass; 1 disables.")
    top_k: int = Field(0, ge=0, description="Keep the k most likely tokens; 0 disables.")
    max_new_tokens: int = Field(32, gt=0, description="Tokens per completion at most.")
    stop: list[str] = Field(default_factory=list, description="Stop strings.")


class RewardRoute(ConfigModel):
    """One reward endpoint role and its weight in the total."""

    role: str = Field("reward", description="etcd role whose instances serve this reward.")
    weight: float = Field(1.0, description="Weight of this reward's total in the sample reward.")


class ControllerSettings(ConfigModel):
    """How controllers drive shards: concurrency, retries (staleness is algorithm.max_staleness)."""

    shards_in_flight: int = Field(2, gt=0, description="Shards one controller drives at once.")
    call_timeout_s: float = Field(300.0, gt=0, description="Deadline of one service call.")
    max_attempts: int = Field(6, gt=0, description="Tries per call across instances.")
    backoff_s: float = Field(0.2, gt=0, description="First retry delay (doubles, capped at 5 s).")

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "max_staleness" in data:
            raise ValueError("'max_staleness' is now algorithm.max_staleness")
        return data


class JobConfig(ConfigModel):
    """A training job: data, sampling, algorithm, which roles serve it."""

    job: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="Job name.")
    data: DataConfig = Field(..., description="Prompt dataset.")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig, description="Rollout.")
    algorithm: AlgorithmSpec = Field(
        default_factory=GRPO,
        description="The RL algorithm (name: grpo, dr_grpo, dapo, rloo, reinforce_pp, ppo) and "
        "its settings; controllers and the trainer both read it from here.",
    )
    rewards: list[RewardRoute] = Field(
        default_factory=lambda: [RewardRoute()], description="Reward roles and weights."
    )
    use_reference: bool = Field(
        True, description="Ask the reference role for log-probs (needed for any KL term)."
    )
    controller: ControllerSettings = Field(
        default_factory=ControllerSettings, description="Controller behaviour."
    )
    seed: int = Field(0, description="Base seed; each shard samples with seed + shard index.")

    @model_validator(mode="after")
    def _check(self) -> JobConfig:
        if not self.rewards:
            raise ValueError("rewards: at least one reward role is needed")
        roles = [r.role for r in self.rewards]
        if len(set(roles)) != len(roles):
            raise ValueError(f"rewards: role listed twice in {roles}")
        algo = self.algorithm
        if algo.needs_reference and not self.use_reference:
            raise ValueError("algorithm.kl_coef > 0 needs use_reference: true")
        if algo.needs_groups and self.sampling.n < 2:
            raise ValueError(f"sampling.n must be >= 2 for {algo.name} groups")
        if isinstance(algo, DAPO) and algo.overlong.enabled:
            if algo.overlong.buffer > self.sampling.max_new_tokens:
                raise ValueError(
                    f"algorithm.overlong.buffer ({algo.overlong.buffer}) must be <= "
                    f"sampling.max_new_tokens ({self.sampling.max_new_tokens})"
                )
        return self

    def required_roles(self) -> list[str]:
        roles = ["rollout", "trainer", *(r.role for r in self.rewards)]
        return roles + (["reference"] if self.use_reference else [])


class ControllerConfig(ConfigModel):
    """One controller process: which job, and where etcd is."""

    job: str = Field(..., description="Job to work on (its config is read from etcd).")
    etcd: EtcdConfig = Field(default_factory=EtcdConfig, description="Coordination store.")
    instance: str | None = Field(None, description="Controller name (default: host-pid).")
    shards_in_flight: int | None = Field(
        None, gt=0, description="Override the job's controller.shards_in_flight for this process."
    )
    exit_when_done: bool = Field(True, description="Exit once every shard of every epoch is done.")
    metrics: MetricsConfig = Field(
        default_factory=MetricsConfig,
        description="Prometheus /metrics (off unless metrics.port is set), as a service's "
        "server.metrics.",
    )
