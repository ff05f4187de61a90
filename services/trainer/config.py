"""TrainerConfig: the typed, documented settings of `yatt serve trainer`.

Imports no torch, so the config is validated (and grad_accum derived) before anything heavy loads.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from yatt.config.algorithm import AlgorithmSpec
from yatt.config.common import EtcdConfig, RegistrationConfig, ServerConfig
from yatt.config.loader import ConfigModel


class DeepSpeedSettings(ConfigModel):
    """How DeepSpeed shards and steps the model; grad_accum follows from the batch sizes."""

    zero_stage: Literal[1, 2, 3] = Field(
        1, description="ZeRO stage: 1 shards optimizer state, 2 also gradients, 3 also parameters."
    )
    micro_batch: int = Field(2, gt=0, description="Samples per forward/backward on one rank.")
    global_batch_samples: int = Field(
        8,
        gt=0,
        description="Samples per optimizer step over all ranks; must be a multiple of "
        "micro_batch * world_size. A step takes every pending shard once this many are in.",
    )
    lr: float = Field(1e-6, gt=0, description="AdamW learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW betas.")
    grad_clip: float = Field(1.0, ge=0, description="Clip the global grad norm to this; 0 = off.")
    precision: Literal["float32", "bfloat16"] = Field(
        "float32", description="Training precision; bfloat16 is for GPUs (CPU runs float32)."
    )
    optimizer: Literal["torch_adamw", "deepspeed_adamw"] = Field(
        "torch_adamw",
        description="torch_adamw: torch.optim.AdamW handed to deepspeed.initialize (works with "
        "ZeRO 1/2/3 on CPU and GPU, no compiled op); deepspeed_adamw: DeepSpeed's own (fused "
        "on GPU, the JIT-built CPU Adam op on CPU).",
    )
    backend: Literal["auto", "gloo", "nccl"] = Field(
        "auto", description="torch.distributed backend; auto = nccl on GPU, gloo on CPU."
    )
    master_port: int = Field(
        0, ge=0, le=65535, description="Rendezvous port of the ranks; 0 picks a free one."
    )
    timeout_s: float = Field(
        300.0, gt=0, description="Collective timeout: a dead rank fails the trainer after this."
    )


class CriticSettings(ConfigModel):
    """The value model PPO trains; critic-free algorithms use kind none."""

    kind: Literal["none", "value_head", "separate"] = Field(
        "none",
        description="none; value_head: a linear head on the policy's last hidden state; "
        "separate: its own model (path) with a value head, in its own DeepSpeed engine.",
    )
    model: str | None = Field(
        None, description="Local model directory of a separate critic (kind separate)."
    )
    lr: float | None = Field(
        None, gt=0, description="Critic learning rate (default: the policy's)."
    )


def check_critic(spec: AlgorithmSpec, critic: CriticSettings) -> None:
    """ValueError when spec needs a critic this trainer does not have."""
    if spec.needs_critic and critic.kind == "none":
        raise ValueError(
            f"algorithm.name {spec.name} needs a critic: set critic.kind value_head or separate"
        )


class TrainerConfig(ConfigModel):
    """Everything one trainer process (and the ranks it starts) needs."""

    server: ServerConfig = Field(ServerConfig(), description="gRPC server of rank 0.")
    etcd: EtcdConfig = Field(EtcdConfig(), description="Coordination store.")
    registration: RegistrationConfig = Field(
        RegistrationConfig(),
        description="etcd registration (enabled when registration.job is set).",
    )
    job: str = Field(
        "default",
        description="Job whose experience this trainer accepts; pushes naming another job are "
        "refused. Must equal registration.job when that is set.",
    )
    model: str = Field(..., description="Local Hugging Face directory of the initial policy.")
    out_dir: str = Field(
        "runs/trainer", description="Run directory: checkpoints/, journal/, resolved config."
    )
    resume: str = Field(
        "auto",
        description="auto: latest checkpoint under out_dir if any; never: start from `model` "
        "(and discard old journal entries); or the path of one checkpoint directory.",
    )
    world_size: int = Field(
        1, ge=1, description="DeepSpeed ranks; rank 0 serves gRPC and starts ranks 1..n-1."
    )
    engine: Literal["deepspeed", "torch"] = Field(
        "deepspeed",
        description="deepspeed: ZeRO engines on world_size ranks; torch: plain torch and AdamW in "
        "this one process (world_size 1; the deepspeed batch, lr, AdamW and clipping settings "
        "apply, zero_stage and the distributed ones do not).",
    )
    deepspeed: DeepSpeedSettings = Field(DeepSpeedSettings(), description="DeepSpeed settings.")
    algorithm: AlgorithmSpec | None = Field(
        None,
        description="Only for a trainer with no registration.job (tests, a bare trainer): the "
        "algorithm whose loss it trains with. A registered trainer takes the algorithm (loss "
        "settings, max_staleness) from its job's config in etcd, so the two cannot differ.",
    )
    critic: CriticSettings = Field(
        CriticSettings(), description="Critic for PPO (published as capabilities.critic)."
    )
    recompute_old_logprobs: bool = Field(
        True,
        description="Recompute old log-probs with the current weights before the update and use "
        "the pushed ones only as behaviour log-probs for truncated importance sampling.",
    )
    tis_cap: float = Field(
        2.0,
        ge=1.0,
        description="Truncated importance sampling cap on exp(old_logprobs - behaviour_logprobs) "
        "(with recompute_old_logprobs).",
    )
    epoch_window: int | None = Field(
        1,
        ge=0,
        description="A shard more than this many epochs behind the newest epoch pushed is refused "
        "(INVALID_ARGUMENT); None = any epoch. 1 lets stragglers of the previous epoch in.",
    )
    checkpoint_every: int = Field(
        1, ge=0, description="Checkpoint every this many steps; 0 = only on request."
    )
    keep_checkpoints: int = Field(2, ge=1, description="Newest checkpoints kept on disk.")
    push_weights: bool = Field(
        False, description="Push each new version to every registered rollout instance."
    )
    push_timeout_s: float = Field(120.0, gt=0, description="Deadline of one LoadWeights push.")
    weight_transport: Literal["auto", "grpc", "shm", "nccl"] = Field(
        "auto",
        description="How pushed versions travel: grpc (chunk stream, any host), shm (one "
        "/dev/shm segment per version, same host), nccl (GPU broadcast), or auto: per rollout "
        "instance, shm when it reports this host's host_id, else grpc.",
    )
    weight_chunk_bytes: int = Field(
        4 * 1024 * 1024, gt=0, description="Data bytes per WeightChunk message."
    )
    verify_ranks: bool = Field(
        False,
        description="After each step, compare a checksum of the parameters across ranks "
        "(reported as rank_digests in the step metrics); a mismatch fails the step.",
    )
    seed: int = Field(0, description="Seed of torch/numpy/python RNGs at a fresh start.")

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        # The algorithm settings used to live here too; the job owns them now.
        moved = {"loss": "the job's algorithm section", "max_staleness": "algorithm.max_staleness"}
        if isinstance(data, dict):
            for key, new in moved.items():
                if key in data:
                    raise ValueError(f"{key!r} moved to {new} (yatt.config.algorithm)")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> TrainerConfig:
        ds = self.deepspeed
        per_step = ds.micro_batch * self.world_size
        if ds.global_batch_samples % per_step:
            raise ValueError(
                f"deepspeed.global_batch_samples ({ds.global_batch_samples}) must be a multiple of "
                f"deepspeed.micro_batch * world_size ({per_step})"
            )
        if self.engine == "torch" and self.world_size != 1:
            raise ValueError(f"engine torch runs one process; world_size is {self.world_size}")
        if self.registration.job is not None and self.registration.job != self.job:
            raise ValueError(f"registration.job {self.registration.job!r} != job {self.job!r}")
        if self.registration.job is not None and self.algorithm is not None:
            raise ValueError(
                "algorithm: a registered trainer takes it from job "
                f"{self.registration.job!r}'s config in etcd; remove it here"
            )
        if self.registration.job is None and self.algorithm is None:
            raise ValueError(
                "algorithm: a trainer with no registration.job needs one (e.g. {name: grpo})"
            )
        if self.algorithm is not None:
            check_critic(self.algorithm, self.critic)
        if self.critic.kind == "separate" and not self.critic.model:
            raise ValueError("critic.kind separate needs critic.model")
        return self

    @property
    def grad_accum(self) -> int:
        """Micro-batches per rank per optimizer step."""
        ds = self.deepspeed
        return ds.global_batch_samples // (ds.micro_batch * self.world_size)
