"""UpConfig: everything `yatt up` needs to run one job on a local cluster, in one YAML file.

Service sections hold each service's own config (the same keys as `yatt serve ROLE --config`);
the launcher fills in etcd, job, ports and model paths.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from yatt.config.loader import ConfigModel
from yatt.controller.config import JobConfig
from yatt.placement.config import EstimatorConfig, PolicyConfig, RoleLimits


class TaskSetup(ConfigModel):
    """The bundled verifiable task whose prompts the job trains on (written if absent)."""

    kind: Literal["arithmetic", "none"] = Field(
        "arithmetic", description="arithmetic: generate train/test JSONL; none: use job.data.path."
    )
    min_operand: int = Field(0, ge=0, description="Smallest operand.")
    max_operand: int = Field(9, ge=0, description="Largest operand.")
    ops: list[str] = Field(default_factory=lambda: ["+"], description="Operators: + - *.")
    train: int = Field(2000, gt=0, description="Rows in train.jsonl (SFT and RL prompts).")
    test: int = Field(200, ge=0, description="Rows in test.jsonl (greedy accuracy before/after).")
    seed: int = Field(0, description="Task seed.")


class SFTSetup(ConfigModel):
    """The short supervised warm start run before RL (skipped when the model already exists)."""

    steps: int = Field(100, gt=0, description="Optimizer steps.")
    batch_size: int = Field(32, gt=0, description="Rows per step.")
    lr: float = Field(3e-3, gt=0, description="Peak learning rate.")
    max_len: int = Field(16, gt=1, description="Prompt+completion tokens per row at most.")


class ModelSetup(ConfigModel):
    """The policy: built from a preset and warm-started if `path` does not exist yet."""

    path: str = Field("runs/models/arith-tiny", description="Model directory (HF format).")
    preset: Literal["tiny", "small", "base"] = Field("tiny", description="yatt init-model preset.")
    seed: int = Field(0, description="Init seed.")
    sft: SFTSetup | None = Field(default_factory=SFTSetup, description="Warm start; null = none.")


class ServiceGroup(ConfigModel):
    """Instances of one service role and the config they share."""

    replicas: int = Field(1, ge=1, description="How many instances to start.")
    config: dict[str, Any] = Field(default_factory=dict, description="The service's own config.")


class PlacementSetup(ConfigModel):
    """Worker slots that host the placed roles, and the placement process that moves them."""

    enabled: bool = Field(False, description="Host roles on placed worker slots, not fixed.")
    slots: int = Field(3, ge=1, description="Worker processes (`yatt worker --slot i`).")
    roles: dict[str, RoleLimits] = Field(
        default_factory=lambda: {
            "rollout": RoleLimits(initial=1),
            "reward": RoleLimits(initial=1),
            "reference": RoleLimits(initial=1, max=1),
        },
        description="Placed roles and their slot limits; roles not listed run as fixed services.",
    )
    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="Moving policy.")
    estimator: EstimatorConfig = Field(
        default_factory=EstimatorConfig, description="Service-rate measurement."
    )
    tick_s: float = Field(1.0, gt=0, description="Seconds between policy evaluations.")
    standby: bool = Field(False, description="Also start a standby placement process.")
    worker: dict[str, Any] = Field(
        default_factory=dict, description="Extra WorkerConfig keys (e.g. stop_timeout_s)."
    )


class UpConfig(ConfigModel):
    """A whole local run: model, task, services, controllers and the job."""

    out: str | None = Field(None, description="Run directory (default runs/<job>-<time>).")
    model: ModelSetup = Field(default_factory=ModelSetup, description="Policy model.")
    task: TaskSetup = Field(default_factory=TaskSetup, description="Bundled task data.")
    job: JobConfig = Field(..., description="The job submitted to the cluster (yatt train).")
    rollout: ServiceGroup = Field(default_factory=ServiceGroup, description="Rollout services.")
    reward: ServiceGroup = Field(
        default_factory=lambda: ServiceGroup(config={"functions": [{"name": "exact_answer"}]}),
        description="Reward services.",
    )
    reference: ServiceGroup = Field(default_factory=ServiceGroup, description="Reference services.")
    trainer: dict[str, Any] = Field(
        default_factory=dict,
        description="Trainer service config (its algorithm is the job's: job.algorithm).",
    )
    controllers: int = Field(2, ge=1, description="Controller processes.")
    placement: PlacementSetup = Field(
        default_factory=PlacementSetup, description="Placed worker slots (off by default)."
    )
    lease_ttl_s: int = Field(3, ge=1, description="etcd lease TTL of every process.")
    startup_timeout_s: float = Field(300.0, gt=0, description="Wait for each service this long.")

    @field_validator("trainer")
    @classmethod
    def _no_algorithm(cls, section: dict[str, Any]) -> dict[str, Any]:
        # Refused here, before anything starts, rather than by the trainer process later.
        for key in ("algorithm", "loss", "max_staleness"):
            if key in section:
                raise ValueError(f"trainer.{key}: the job owns the algorithm; set job.algorithm")
        return section
