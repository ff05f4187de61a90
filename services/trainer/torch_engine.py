"""TorchEngine: the TrainingEngine in one process with plain torch and AdamW, no DeepSpeed.

A single-process CPU (or one-GPU) trainer in its own right, and what lets TrainerCore's
exactly-once logic be tested without DeepSpeed. It runs the same train_step and losses.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from yatt.services.trainer import checkpoint as ckpt
from yatt.services.trainer.batching import Batch, StepPlan
from yatt.services.trainer.config import TrainerConfig
from yatt.services.trainer.losses.settings import LossSettings
from yatt.services.trainer.modules import load_trained_modules, policy_tensors, weights_digest
from yatt.services.trainer.step_modules import StepModules
from yatt.services.trainer.train_step import combine, train_step

log = logging.getLogger(__name__)

STATE_FILE = "torch-engine.pt"


class TorchStepModule:
    """A module and its AdamW behind DeepSpeed's engine calls (step_modules.StepModule):
    backward scales by 1/grad_accum, step clips and steps at the accumulation boundary."""

    def __init__(self, module: torch.nn.Module, cfg: TrainerConfig, lr: float) -> None:
        ds = cfg.deepspeed
        self.module = module.to(_device())
        params = [p for p in module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            params, lr=lr, betas=ds.betas, weight_decay=ds.weight_decay
        )
        self.grad_accum, self.grad_clip = cfg.grad_accum, ds.grad_clip
        self._micro_steps = 0
        self._grad_norm: float | None = None

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def train(self, mode: bool = True) -> Any:
        return self.module.train(mode)

    def backward(self, loss: torch.Tensor) -> None:
        (loss / self.grad_accum).backward()

    def step(self) -> None:
        self._micro_steps += 1
        if self._micro_steps % self.grad_accum:
            return
        # max_norm inf measures without clipping (grad_clip 0 = off, as in DeepSpeed).
        limit = self.grad_clip or float("inf")
        self._grad_norm = float(torch.nn.utils.clip_grad_norm_(self.module.parameters(), limit))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def get_global_grad_norm(self) -> float | None:
        return self._grad_norm

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class TorchEngine:
    """The whole batch on this process: world size 1, no collectives."""

    world_size = 1

    def __init__(self, cfg: TrainerConfig) -> None:
        self.cfg = cfg
        policy, critic = load_trained_modules(cfg)
        # What a checkpoint holds, by name: each module with its optimizer.
        self._saved = {"policy": TorchStepModule(policy, cfg, cfg.deepspeed.lr)}
        if critic is not None:
            self._saved["critic"] = TorchStepModule(critic, cfg, cfg.critic.lr or cfg.deepspeed.lr)
        self.modules = StepModules(self._saved["policy"], self._saved.get("critic"))
        log.info("torch engine ready on %s (grad_accum %d)", self.modules.device, cfg.grad_accum)

    @property
    def vocab_size(self) -> int:
        return self.modules.vocab_size

    def step(self, batch: Batch, plan: StepPlan, loss: LossSettings) -> dict[str, float]:
        return combine([train_step(self.modules, self.cfg, loss, batch, plan, self.world_size)])

    def digests(self) -> list[str]:
        return [weights_digest(self.modules.lm)]

    def gather(self) -> dict[str, torch.Tensor]:
        return policy_tensors(self.modules.lm)

    def save(self, root: Path, tag: str) -> None:
        staged = ckpt.staging_root(root) / tag
        staged.mkdir(parents=True, exist_ok=True)
        torch.save({name: m.state_dict() for name, m in self._saved.items()}, staged / STATE_FILE)
        ckpt.save_rng(staged, 0)

    def load(self, root: Path, tag: str) -> None:
        state = torch.load(root / tag / STATE_FILE, map_location=self.modules.device)
        for name, module in self._saved.items():
            module.load_state_dict(state[name])
        ckpt.load_rng(root / tag, 0)

    def close(self) -> None:
        """Nothing to release: no processes, no process group."""
