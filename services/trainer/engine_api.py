"""TrainingEngine: what TrainerCore needs from whatever trains the model, and build_engine,
which picks the implementation `trainer.engine` names (DeepSpeed ranks, or plain torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch

from yatt.services.trainer.batching import Batch, StepPlan
from yatt.services.trainer.config import TrainerConfig
from yatt.services.trainer.losses.settings import LossSettings


class TrainingEngine(Protocol):
    """Trains the policy (and critic) on batches; called from one thread, one call at a time."""

    @property
    def world_size(self) -> int:
        """Ranks a step's batch is split over (1 for a single-process engine)."""
        ...

    @property
    def vocab_size(self) -> int:
        """The policy's vocabulary size: token ids of a shard must be below it."""
        ...

    def step(self, batch: Batch, plan: StepPlan, loss: LossSettings) -> dict[str, float]:
        """One optimizer step on the whole batch under the job's loss settings; the step's
        metrics (train_step.combine)."""
        ...

    def digests(self) -> list[str]:
        """A checksum of the policy weights as each rank holds them (equal unless diverged)."""
        ...

    def gather(self) -> dict[str, torch.Tensor]:
        """The full policy weights as CPU tensors (modules.policy_tensors' names)."""
        ...

    def save(self, root: Path, tag: str) -> None:
        """Writes model, optimizer and RNG state into checkpoint.staging_root(root) / tag."""
        ...

    def load(self, root: Path, tag: str) -> None:
        """Loads what save wrote into root / tag (a committed checkpoint)."""
        ...

    def close(self) -> None: ...


def build_engine(cfg: TrainerConfig) -> TrainingEngine:
    """The engine cfg.engine names; imports only that implementation's libraries."""
    if cfg.engine == "torch":
        from yatt.services.trainer.torch_engine import TorchEngine

        return TorchEngine(cfg)
    from yatt.services.trainer.deepspeed_engine import prefer_cpu_accelerator

    prefer_cpu_accelerator()  # before anything imports deepspeed
    from yatt.services.trainer.ranks import RankGroup

    return RankGroup(cfg)
