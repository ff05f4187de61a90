"""Turns the pending shards into one padded batch, then into per-rank and micro-batch slices.

Shards are never split across steps (the ledger is per shard), so a step may hold a little more
than global_batch_samples; every rank still gets at least grad_accum * micro_batch samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F

from yatt.services.trainer.experience import Experience


@dataclass
class Batch:
    """[N, T] tensors (rewards [N]); optional ones are None when no shard carried them."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    loss_mask: torch.Tensor
    old_logprobs: torch.Tensor
    rewards: torch.Tensor
    ref_logprobs: torch.Tensor | None = None
    advantages: torch.Tensor | None = None

    @property
    def num_samples(self) -> int:
        return int(self.input_ids.shape[0])

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Batch:
        values: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            values[f.name] = None if value is None else fn(value)
        return Batch(**values)

    def to(self, device: torch.device) -> Batch:
        return self.map(lambda t: t.to(device, non_blocking=True))

    def split(self, parts: int) -> list[Batch]:
        """parts slices along samples, as even as possible, in order."""
        pieces: dict[str, list[Any]] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            pieces[f.name] = (
                [None] * parts if value is None else list(torch.tensor_split(value, parts))
            )
        return [Batch(**{k: v[i] for k, v in pieces.items()}) for i in range(parts)]


def _pad(t: torch.Tensor, length: int) -> torch.Tensor:
    return F.pad(t, (0, length - t.shape[1])) if t.shape[1] < length else t


def collate(shards: list[Experience]) -> Batch:
    """Right-pads every shard to the longest sequence and stacks them in push order."""
    length = max(int(e.input_ids.shape[1]) for e in shards)

    def cat(name: str, per_token: bool = True) -> torch.Tensor | None:
        values = [getattr(e, name) for e in shards]
        if all(v is None for v in values):
            return None
        if any(v is None for v in values):
            # Mixed shards: a missing optional tensor means zeros (no KL / no advantage).
            values = [
                torch.zeros_like(e.old_logprobs) if v is None else v
                for e, v in zip(shards, values, strict=True)
            ]
        return torch.cat([_pad(v, length) if per_token else v for v in values])

    return Batch(
        input_ids=cat("input_ids"),  # type: ignore[arg-type]
        attention_mask=cat("attention_mask"),  # type: ignore[arg-type]
        loss_mask=cat("loss_mask"),  # type: ignore[arg-type]
        old_logprobs=cat("old_logprobs"),  # type: ignore[arg-type]
        rewards=cat("rewards", per_token=False),  # type: ignore[arg-type]
        ref_logprobs=cat("ref_logprobs"),
        advantages=cat("advantages"),
    )


@dataclass(frozen=True)
class StepPlan:
    """What every rank needs besides its slice: the loss normalizer of the whole step."""

    normalizer: float
    total_tokens: int
    total_samples: int


def plan_step(batch: Batch, aggregation: str) -> StepPlan:
    """Step-wide normalizer, so micro-batch losses on all ranks add up to the batch loss."""
    tokens = float(batch.loss_mask.sum())
    seqs = float((batch.loss_mask.sum(-1) > 0).sum())
    return StepPlan(
        normalizer=tokens if aggregation == "token_mean" else seqs,
        total_tokens=int(batch.attention_mask.sum()),
        total_samples=batch.num_samples,
    )
