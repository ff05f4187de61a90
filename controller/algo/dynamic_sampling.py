"""DAPO dynamic sampling: drop prompt groups whose rewards are all equal (zero advantage, no
gradient) and track how many useful groups a step still needs, with a bound on refills."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from yatt.controller.algo.base import group_index
from yatt.errors import InvalidArgument


def useful_group_mask(rewards: Tensor, group_ids: Tensor, atol: float = 0.0) -> Tensor:
    """Bool [B]: True for samples whose group's rewards differ by more than atol.

    A group of one sample has zero variance by definition and is dropped too.
    """
    if rewards.shape != group_ids.shape or rewards.dim() != 1:
        raise InvalidArgument("rewards and group_ids must both be [B]")
    index, counts = group_index(group_ids)
    groups = counts.shape[0]
    rewards = rewards.to(torch.float32)
    high = rewards.new_full((groups,), -math.inf).scatter_reduce(0, index, rewards, reduce="amax")
    low = rewards.new_full((groups,), math.inf).scatter_reduce(0, index, rewards, reduce="amin")
    return (high - low > atol)[index]


@dataclass
class GroupQuota:
    """Counts useful groups toward one step's quota; refills (extra shards claimed because
    too many groups were dropped) are bounded by max_refills and reported in stats()."""

    target_groups: int
    max_refills: int
    atol: float = 0.0
    useful_groups: int = 0
    dropped_groups: int = 0
    refills: int = 0
    exhausted: bool = False

    def __post_init__(self) -> None:
        if self.target_groups < 1 or self.max_refills < 0:
            raise InvalidArgument("target_groups must be >= 1 and max_refills >= 0")

    def record(self, rewards: Tensor, group_ids: Tensor) -> Tensor:
        """Counts the groups of one scored batch; returns the keep mask [B] of its samples."""
        keep = useful_group_mask(rewards, group_ids, self.atol)
        kept = torch.unique(group_ids[keep]).numel()
        self.useful_groups += kept
        self.dropped_groups += torch.unique(group_ids).numel() - kept
        return keep

    @property
    def satisfied(self) -> bool:
        return self.useful_groups >= self.target_groups

    @property
    def remaining(self) -> int:
        return max(0, self.target_groups - self.useful_groups)

    def claim_refill(self) -> bool:
        """True when one more refill is allowed (and counts it); False once the bound is hit."""
        if self.satisfied:
            return False
        if self.refills >= self.max_refills:
            self.exhausted = True
            return False
        self.refills += 1
        return True

    def shards_to_claim(self, groups_per_shard: int) -> int:
        """Shards still worth claiming, from the useful fraction seen so far (at least 1 if short)."""
        if self.satisfied:
            return 0
        seen = self.useful_groups + self.dropped_groups
        useful_fraction = self.useful_groups / seen if seen and self.useful_groups else 1.0
        return max(1, math.ceil(self.remaining / (useful_fraction * groups_per_shard)))

    def stats(self) -> dict[str, float]:
        """What the step reports: useful and dropped groups, refills, whether the bound was hit."""
        seen = self.useful_groups + self.dropped_groups
        return {
            "useful_groups": float(self.useful_groups),
            "dropped_groups": float(self.dropped_groups),
            "useful_fraction": self.useful_groups / seen if seen else 0.0,
            "refills": float(self.refills),
            "refills_exhausted": float(self.exhausted),
        }
