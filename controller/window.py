"""The training window: start sampling a shard only when the trainer can still train it.

The trainer trains a shard in the step that consumes it and refuses it when that step's version
is more than `max_staleness` past the weights it was sampled with. Every shard claimed before
this one (by any controller) and the samples already pending in the trainer are consumed first,
so this shard is trained at about

    version + (pending + samples of older claims) // global_batch

The gate waits until that is within the staleness window, then samples with the weights the
shard will be judged against: at least (version it will be trained at) - max_staleness. The
oldest claim always passes (nothing is ahead of it and pending < global_batch), so the job
cannot stall on itself; the estimate errs late (an older claim may already be pending), which
only delays a shard. Without it, two controllers with three shards in flight each kept three
global batches moving under `max_staleness: 1`, and most late shards were refused and re-sampled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import aetcd

from yatt import keys
from yatt.contracts import TrainerMember
from yatt.coordination.discovery import RoleDirectory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainerView:
    """What the trainer's member record says about the next step."""

    weight_version: int
    pending_samples: int
    global_batch_samples: int


def trainer_view(members: Iterable[object]) -> TrainerView | None:
    """The newest trainer record that says how large its batch is (None: none does yet)."""
    known = [m for m in members if isinstance(m, TrainerMember) and m.global_batch_samples > 0]
    if not known:
        return None
    newest = max(known, key=lambda m: m.weight_version)
    return TrainerView(newest.weight_version, newest.pending_samples, newest.global_batch_samples)


def min_version_to_sample(
    trainer: TrainerView, samples_ahead: int, max_staleness: int
) -> int | None:
    """The oldest weights a shard may be sampled with, or None while it would arrive too late."""
    steps_before = (trainer.pending_samples + samples_ahead) // trainer.global_batch_samples
    if steps_before > max_staleness:
        return None
    return max(0, trainer.weight_version + steps_before - max_staleness)


class TrainingWindow:
    """Gates the sampling of this controller's claimed shards (see the module docstring)."""

    def __init__(
        self,
        client: aetcd.Client,
        job: str,
        trainers: RoleDirectory,
        samples_per_shard: int,
        max_staleness: int,
        poll_s: float = 0.1,
    ) -> None:
        self.client, self.job, self.trainers = client, job, trainers
        self.samples_per_shard = samples_per_shard
        self.max_staleness = max_staleness
        self.poll_s = poll_s

    async def samples_ahead(self, claim_revision: int) -> int:
        """Samples of shards claimed before ours and not done yet (their claims still exist)."""
        claims = await self.client.get_prefix(keys.claims_prefix(self.job).encode())
        older = sum(1 for kv in claims if 0 < kv.create_revision < claim_revision)
        return older * self.samples_per_shard

    async def wait(self, shard_id: str, claim_revision: int) -> int:
        """Waits until the shard fits the window; returns the min weight version to sample with."""
        waited = False
        while True:
            trainer = trainer_view(self.trainers.members().values())
            if trainer is None:  # an older trainer that does not publish its batch: no gate
                return 0
            ahead = await self.samples_ahead(claim_revision)
            min_version = min_version_to_sample(trainer, ahead, self.max_staleness)
            if min_version is not None:
                if waited:
                    log.debug("shard %s enters the training window", shard_id)
                return min_version
            if not waited:
                log.debug(
                    "shard %s waits: %d samples ahead, trainer at v%d with %d pending of %d",
                    shard_id, ahead, trainer.weight_version, trainer.pending_samples,
                    trainer.global_batch_samples,
                )  # fmt: skip
                waited = True
            await asyncio.sleep(self.poll_s)
