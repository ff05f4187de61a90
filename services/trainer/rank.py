"""One DeepSpeed rank: its engines, and the typed commands rank 0 sends to every rank (step,
save, load, gather, digest). Rank 0 and ranks 1..n-1 run this same code, so the collectives
inside DeepSpeed line up."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch

from yatt.services.trainer import checkpoint as ckpt
from yatt.services.trainer.batching import Batch, StepPlan
from yatt.services.trainer.config import TrainerConfig
from yatt.services.trainer.deepspeed_engine import build_deepspeed_modules
from yatt.services.trainer.losses.settings import LossSettings
from yatt.services.trainer.modules import policy_tensors, weights_digest
from yatt.services.trainer.train_step import train_step

log = logging.getLogger(__name__)

CRITIC_TAG = "critic"

R = TypeVar("R")


class Rank:
    """Holds this rank's DeepSpeed engines; one method per command."""

    def __init__(self, cfg: TrainerConfig, rank: int, world_size: int) -> None:
        self.cfg, self.rank, self.world_size = cfg, rank, world_size
        self.modules = build_deepspeed_modules(cfg)

    def step(self, part: Batch, plan: StepPlan, loss: LossSettings) -> dict[str, float]:
        return train_step(self.modules, self.cfg, loss, part, plan, self.world_size)

    def save(self, root: Path, tag: str) -> None:
        staging = ckpt.staging_root(root)
        # DeepSpeed engines (untyped): their own checkpoint format, one directory per engine.
        policy, critic = self._engines()
        policy.save_checkpoint(str(staging), tag=tag, save_latest=False)
        if critic is not None:
            critic.save_checkpoint(str(staging / tag), tag=CRITIC_TAG, save_latest=False)
        ckpt.save_rng(staging / tag, self.rank)
        torch.distributed.barrier()

    def load(self, root: Path, tag: str) -> None:
        policy, critic = self._engines()
        path, _ = policy.load_checkpoint(str(root), tag=tag)
        if path is None:
            raise RuntimeError(f"DeepSpeed could not load checkpoint {root / tag}")
        if critic is not None:
            critic.load_checkpoint(str(root / tag), tag=CRITIC_TAG)
        ckpt.load_rng(root / tag, self.rank)

    def _engines(self) -> tuple[Any, Any]:
        return self.modules.policy, self.modules.critic

    def gather(self) -> dict[str, torch.Tensor] | None:
        """The full policy weights on rank 0 (ZeRO-3 gathers the partitions from every rank)."""
        with self._full_parameters():
            return policy_tensors(self.modules.lm) if self.rank == 0 else None

    def digest(self) -> str:
        """sha256 of this rank's view of the full policy weights (divergence check)."""
        with self._full_parameters():
            return weights_digest(self.modules.lm)

    @contextmanager
    def _full_parameters(self) -> Iterator[None]:
        """Under ZeRO-3 each rank holds a partition: gather the whole of every parameter."""
        if self.cfg.deepspeed.zero_stage != 3:
            yield
            return
        import deepspeed

        params = list(self.modules.lm.parameters())
        with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
            yield


class RankCommand(ABC, Generic[R]):
    """A command every rank runs; its result type is R (gathered on rank 0)."""

    @abstractmethod
    def apply(self, rank: Rank) -> R: ...


@dataclass(frozen=True)
class Step(RankCommand[dict[str, float]]):
    part: Batch
    plan: StepPlan
    loss: LossSettings

    def apply(self, rank: Rank) -> dict[str, float]:
        return rank.step(self.part, self.plan, self.loss)


@dataclass(frozen=True)
class Save(RankCommand[None]):
    root: str
    tag: str

    def apply(self, rank: Rank) -> None:
        rank.save(Path(self.root), self.tag)


@dataclass(frozen=True)
class Load(RankCommand[None]):
    root: str
    tag: str

    def apply(self, rank: Rank) -> None:
        rank.load(Path(self.root), self.tag)


@dataclass(frozen=True)
class Gather(RankCommand[dict[str, torch.Tensor] | None]):
    def apply(self, rank: Rank) -> dict[str, torch.Tensor] | None:
        return rank.gather()


@dataclass(frozen=True)
class Digest(RankCommand[str]):
    def apply(self, rank: Rank) -> str:
        return rank.digest()


@dataclass(frozen=True)
class Stop(RankCommand[None]):
    """Ends the command loop of ranks 1..n-1 (rank 0 never applies it)."""

    def apply(self, rank: Rank) -> None:
        return None


def run_on(rank: Rank, command: RankCommand[R]) -> tuple[str, object]:
    """("ok", result) or ("error", what failed): what rank 0 gathers from every rank."""
    try:
        return ("ok", command.apply(rank))
    except Exception as exc:
        log.exception("rank %d: %s failed", rank.rank, type(command).__name__)
        return ("error", f"rank {rank.rank}: {type(exc).__name__}: {exc}")
