"""What train_step drives: a wrapped module that runs forward, accumulates gradients over
grad_accum micro-batches and steps its optimizer. DeepSpeed's engine is one such module;
torch_engine.TorchStepModule (plain torch, one process) is the other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch


class StepModule(Protocol):
    """The part of DeepSpeed's engine API that train_step uses."""

    module: torch.nn.Module

    @property
    def device(self) -> torch.device: ...

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...

    def backward(self, loss: torch.Tensor) -> Any:
        """Accumulates the gradient of loss / grad_accum (DeepSpeed's scaling)."""
        ...

    def step(self) -> Any:
        """Counts a micro-batch; at every grad_accum-th, clips and steps the optimizer."""
        ...

    def get_global_grad_norm(self) -> float | None:
        """The gradient norm of the last optimizer step (before clipping)."""
        ...


@dataclass
class StepModules:
    """The policy (an ActorCritic inside) and, for a separate critic, its own module."""

    policy: StepModule
    critic: StepModule | None

    def all(self) -> list[StepModule]:
        return [m for m in (self.policy, self.critic) if m is not None]

    @property
    def device(self) -> torch.device:
        return self.policy.device

    @property
    def lm(self) -> torch.nn.Module:
        """The policy's causal LM (what rollout loads)."""
        lm = self.policy.module.lm
        assert isinstance(lm, torch.nn.Module)
        return lm

    @property
    def vocab_size(self) -> int:
        return int(self.lm.config.vocab_size)  # type: ignore[union-attr, arg-type]
