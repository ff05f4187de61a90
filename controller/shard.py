"""Drives one claimed shard: rollout -> reward -> reference -> advantages -> trainer.

Only this object ever holds the shard's samples (and their payloads); the shard is
marked done by the caller only after the trainer acknowledged it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from yatt import metrics
from yatt.config.algorithm import DAPO
from yatt.contracts import RolloutMember, TrainerMember
from yatt.controller import calls
from yatt.controller.algo import useful_group_mask
from yatt.controller.config import JobConfig
from yatt.controller.dataset import PromptDataset, PromptRow
from yatt.controller.experience import experience_tensors, shaped_rewards
from yatt.controller.pool import Member, RolePool
from yatt.controller.sample import Sample
from yatt.controller.window import TrainingWindow
from yatt.errors import AlreadyExists, FailedPrecondition, YattError
from yatt.services.trainer.core import PushResult
from yatt.services.trainer.experience import ExperienceHeader

log = logging.getLogger(__name__)


class ShardFailed(Exception):
    """A shard cannot be completed (the job should stop and say why)."""


@dataclass
class Pools:
    """The service instances a controller talks to, one pool per role."""

    rollout: RolePool
    trainer: RolePool
    rewards: dict[str, RolePool]
    reference: RolePool | None

    def all(self) -> list[RolePool]:
        pools = [self.rollout, self.trainer, *self.rewards.values()]
        return pools + ([self.reference] if self.reference else [])


@dataclass(frozen=True)
class ShardSlot:
    """A claimed shard: its id ("epoch/idx"), epoch and index."""

    shard_id: str
    epoch: int
    idx: int


@dataclass
class ShardOutcome:
    """What happened to a shard; stats are stored with the shard's done state in etcd."""

    stats: dict[str, Any] = field(default_factory=dict)


def trainer_version(pools: Pools) -> int | None:
    members = pools.trainer.members().values()
    versions = [m.weight_version for m in members if isinstance(m, TrainerMember)]
    return max(versions) if versions else None


class ShardRunner:
    """Runs shards of one job; one instance serves every shard a controller drives."""

    def __init__(
        self,
        job: JobConfig,
        dataset: PromptDataset,
        pools: Pools,
        window: TrainingWindow,
    ) -> None:
        self.job = job
        self.dataset = dataset
        self.pools = pools
        self.settings = job.controller
        self.window = window

    def _stage(self, stage: str) -> Any:
        """Times one stage of a shard into yatt_controller_stage_seconds."""
        return metrics.STAGE_LATENCY.labels(self.job.job, stage).time()

    async def _sample(self, rows: Sequence[PromptRow], seed: int, min_version: int) -> list[Sample]:
        def fresh(info: Member) -> bool:
            return isinstance(info, RolloutMember) and info.weight_version >= min_version

        with self._stage("generate"):
            return await calls.generate(
                self.pools.rollout, rows, self.job.sampling, seed, min_version, self.settings, fresh
            )

    async def _score(self, samples: list[Sample]) -> None:
        routes = self.job.rewards
        with self._stage("score"):
            results = await asyncio.gather(
                *(calls.score(self.pools.rewards[r.role], samples, self.settings) for r in routes)
            )
        for i, sample in enumerate(samples):
            sample.reward = 0.0
            sample.components = {}
            for route, scored in zip(routes, results, strict=True):
                total, components = scored[i]
                sample.reward += route.weight * total
                sample.components[route.role] = total
                sample.components.update({f"{route.role}.{k}": v for k, v in components.items()})

    async def _sample_and_score(
        self, rows: Sequence[PromptRow], seed: int, min_version: int
    ) -> tuple[list[Sample], dict[str, int]]:
        """Samples and scores rows; with dynamic sampling, re-samples zero-variance groups."""
        samples = await self._sample(rows, seed, min_version)
        await self._score(samples)
        stats = {"refills": 0, "groups_dropped": 0}
        algo = self.job.algorithm
        if not (isinstance(algo, DAPO) and algo.dynamic_sampling):
            return samples, stats
        for refill in range(algo.max_refills + 1):
            useless = self._useless_groups(samples)
            if not useless or refill == algo.max_refills:
                break
            stats["refills"] += 1
            again = [rows[g] for g in sorted(useless)]
            fresh = await self._sample(again, seed + 7919 * (refill + 1), min_version)
            await self._score(fresh)
            for sample in fresh:  # map group index back to the shard's numbering
                sample.group = rows.index(again[sample.group])
            samples = [s for s in samples if s.group not in useless] + fresh
        useless = self._useless_groups(samples)
        stats["groups_dropped"] = len(useless)
        kept = [s for s in samples if s.group not in useless]
        return sorted(kept, key=lambda s: (s.group, s.index)), stats

    def _check_not_doomed(self, slot: ShardSlot, version: int) -> None:
        """Refuses now, before reference and push, a shard the trainer has already moved past."""
        newest = trainer_version(self.pools)
        staleness = self.job.algorithm.max_staleness
        if newest is not None and version < newest - staleness:
            raise FailedPrecondition(
                f"shard {slot.shard_id} was sampled with version {version}, the trainer is "
                f"already at {newest} (max_staleness {staleness}): dropped before reference"
            )

    @staticmethod
    def _useless_groups(samples: list[Sample]) -> set[int]:
        import torch

        rewards = torch.tensor([s.reward for s in samples])
        groups = torch.tensor([s.group for s in samples])
        keep = useful_group_mask(rewards, groups)
        return {s.group for s, k in zip(samples, keep.tolist(), strict=True) if not k}

    async def run(self, epoch: int, idx: int, ref: dict[str, Any]) -> ShardOutcome:
        """Drives the shard until the trainer holds it; re-samples when it was too stale.

        Re-sampling is scheduling, never a failure: the training window makes it rare, and a
        shard refused as stale waits for the weights to move and tries again for as long as
        its claim lasts.
        """
        started = time.monotonic()
        rows = await asyncio.to_thread(self.dataset.rows, ref["start"], ref["end"])
        slot = ShardSlot(f"{epoch}/{idx}", epoch, idx)
        attempt = 0
        while True:
            seed = self.job.seed + epoch * 1_000_003 + idx * 1_009 + attempt
            try:
                result = await self._attempt(slot, rows, seed)
                break
            except AlreadyExists:
                log.info("shard %s was already applied; marking done", slot.shard_id)
                return ShardOutcome({"already_applied": True})
            except FailedPrecondition as exc:
                # Sampled with weights the trainer no longer accepts, or rollout lags the
                # version asked for: wait for weights to move, sample again.
                attempt += 1
                log.log(
                    logging.WARNING if attempt % 10 == 0 else logging.INFO,
                    "shard %s: %s; re-sampling (attempt %d)", slot.shard_id, exc, attempt + 1,
                )  # fmt: skip
                metrics.REROLLS.labels(self.job.job).inc()
                await asyncio.sleep(min(self.settings.backoff_s * 2 ** min(attempt, 5), 5.0))
            except YattError as exc:
                raise ShardFailed(f"shard {slot.shard_id}: {type(exc).__name__}: {exc}") from None
        samples, stats, version, reply = result
        if reply is None:  # dynamic sampling dropped every group: nothing to train on
            return ShardOutcome({**stats, "samples": 0, "pushed": False, "rerolls": attempt})
        rewards = shaped_rewards(samples, self.job)
        return ShardOutcome(
            {
                **stats,
                "samples": len(samples),
                "reward_mean": float(rewards.mean()),
                "weight_version": version,
                "rerolls": attempt,
                "tokens": sum(len(s.token_ids) for s in samples),
                "seconds": time.monotonic() - started,
                "trainer_step": reply.step,
                "pushed": True,
            }
        )

    async def _attempt(
        self, slot: ShardSlot, rows: list[PromptRow], seed: int
    ) -> tuple[list[Sample], dict[str, int], int, PushResult | None]:
        """One pass: sample, score, reference, push (no push if dynamic sampling dropped all).

        The pass starts only when the trainer can still train the shard (the training window),
        and it counts as ahead of later shards until its push is answered.
        """
        await self.pools.trainer.directory.wait_until(bool, self.settings.call_timeout_s)
        min_version = await self.window.enter(slot.epoch, slot.idx, len(rows) * self.job.sampling.n)
        try:
            return await self._pass(slot, rows, seed, min_version)
        finally:
            await asyncio.shield(self.window.leave(slot.epoch, slot.idx))

    async def _pass(
        self, slot: ShardSlot, rows: list[PromptRow], seed: int, min_version: int
    ) -> tuple[list[Sample], dict[str, int], int, PushResult | None]:
        samples, stats = await self._sample_and_score(rows, seed, min_version)
        if not samples:
            log.info("shard %s: every group dropped by dynamic sampling", slot.shard_id)
            return [], stats, -1, None
        version = min(s.weight_version for s in samples)
        self._check_not_doomed(slot, version)
        if self.pools.reference is not None:
            with self._stage("reference"):
                refs = await calls.reference_logprobs(self.pools.reference, samples, self.settings)
            for sample, values in zip(samples, refs, strict=True):
                sample.ref_logprobs = values
        tensors = await asyncio.to_thread(experience_tensors, samples, self.job)
        header = ExperienceHeader(
            job=self.job.job,
            shard_id=slot.shard_id,
            epoch=slot.epoch,
            weight_version=version,
            num_samples=len(samples),
            metadata={"controller_stats": stats},
        )
        with self._stage("push"):
            reply = await calls.push_experience(self.pools.trainer, header, tensors, self.settings)
        return samples, stats, version, reply
