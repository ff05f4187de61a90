"""What every DeepSpeed rank does on a command: step, save, load, gather weights, digest.

Rank 0 and ranks 1..n-1 run this same code, so the collectives inside DeepSpeed line up.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from yatt.services.trainer import checkpoint as ckpt
from yatt.services.trainer.config import TrainerConfig
from yatt.services.trainer.engine import Engines, build_engines
from yatt.services.trainer.train_step import train_step

CRITIC_TAG = "critic"


def policy_tensors(lm: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Distinct parameters (tied names once, under their first name) plus persistent buffers,
    as CPU copies: what a rollout engine loads (matches yatt.models.weights.spec_of)."""
    out = {name: p.detach().to("cpu", copy=True) for name, p in lm.named_parameters()}
    persistent = set(lm.state_dict(keep_vars=True))
    for name, b in lm.named_buffers():
        if name in persistent:
            out[name] = b.detach().to("cpu", copy=True)
    return out


class RankWorker:
    """Holds this rank's engines; handle() runs one command and returns this rank's result."""

    def __init__(self, cfg: TrainerConfig, rank: int, world_size: int) -> None:
        self.cfg, self.rank, self.world_size = cfg, rank, world_size
        self.engines: Engines = build_engines(cfg)

    def handle(self, command: str, arg: Any) -> Any:
        return getattr(self, f"cmd_{command}")(arg)

    def cmd_step(self, arg: Any) -> dict[str, float]:
        part, plan, loss = arg
        return train_step(self.engines, self.cfg, loss, part, plan, self.world_size)

    def cmd_save(self, arg: tuple[str, str]) -> None:
        root, tag = Path(arg[0]), arg[1]
        staging = ckpt.staging_root(root)
        self.engines.policy.save_checkpoint(str(staging), tag=tag, save_latest=False)
        if self.engines.critic is not None:
            self.engines.critic.save_checkpoint(
                str(staging / tag), tag=CRITIC_TAG, save_latest=False
            )
        ckpt.save_rng(staging / tag, self.rank)
        torch.distributed.barrier()

    def cmd_load(self, arg: tuple[str, str]) -> None:
        root, tag = Path(arg[0]), arg[1]
        path, _ = self.engines.policy.load_checkpoint(str(root), tag=tag)
        if path is None:
            raise RuntimeError(f"DeepSpeed could not load checkpoint {root / tag}")
        if self.engines.critic is not None:
            self.engines.critic.load_checkpoint(str(root / tag), tag=CRITIC_TAG)
        ckpt.load_rng(root / tag, self.rank)

    def cmd_gather(self, arg: Any = None) -> dict[str, torch.Tensor] | None:
        """The full policy weights on rank 0 (ZeRO-3 gathers the partitions from every rank)."""
        lm = self.engines.lm
        if self.cfg.deepspeed.zero_stage == 3:
            import deepspeed

            with deepspeed.zero.GatheredParameters(list(lm.parameters()), modifier_rank=None):
                return policy_tensors(lm) if self.rank == 0 else None
        return policy_tensors(lm) if self.rank == 0 else None

    def cmd_digest(self, arg: Any = None) -> str:
        """sha256 of this rank's view of the full policy weights (divergence check)."""
        lm = self.engines.lm
        digest = hashlib.sha256()

        def feed() -> None:
            for name, p in lm.named_parameters():
                digest.update(name.encode())
                digest.update(p.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())

        if self.cfg.deepspeed.zero_stage == 3:
            import deepspeed

            with deepspeed.zero.GatheredParameters(list(lm.parameters()), modifier_rank=None):
                feed()
        else:
            feed()
        return digest.hexdigest()
