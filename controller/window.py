"""The training window: start sampling a shard only when the trainer can still train it.

The trainer trains a shard in the step that consumes it and refuses it when that step's version
is more than `max_staleness` past the weights it was sampled with. Shards finish in any order (a
slow reward instance, a refill), so any shard in flight may reach the trainer before any other.
A new shard starts only when neither it nor any shard already in flight could then be consumed
too late, counting the trainer's pending samples and every other shard in flight as ahead; it
samples with weights no older than the version it could be trained at, less `max_staleness`.
Each shard in flight is announced under
`keys.sampling` (its samples and the weights it sampled with, bound to the controller's lease,
so a dead controller's entries vanish) until its push is answered.

The count errs late (two controllers may start at once, a pushed shard is briefly counted
twice), which at worst delays a shard or costs one re-sample; a shard with nothing in flight
always starts (pending < global_batch), so the job cannot stall on itself. Without the window,
two controllers with three shards in flight each kept three global batches moving under
`max_staleness: 1`, and most late shards were refused and re-sampled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import aetcd

from yatt import keys
from yatt.codec.meta import pack, unpack_map
from yatt.contracts import TrainerMember
from yatt.coordination.client import lease_id_of
from yatt.coordination.discovery import RoleDirectory
from yatt.coordination.lease import SessionLease

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


@dataclass(frozen=True)
class InFlight:
    """A shard being sampled: how many samples, and the oldest weights it may have used."""

    samples: int
    min_version: int


def min_version_to_sample(
    trainer: TrainerView, in_flight: list[InFlight], samples: int, max_staleness: int
) -> int | None:
    """The oldest weights a new shard may be sampled with, or None while starting it now would
    make it, or a shard already in flight, reach the trainer too late.

    Any shard may be pushed before any other, so a shard is consumed after at most the pending
    samples and every other shard in flight, and trained at the version after those steps.
    """
    version, pending, batch = (
        trainer.weight_version,
        trainer.pending_samples,
        trainer.global_batch_samples,
    )
    total = sum(f.samples for f in in_flight)
    steps_before = (pending + total) // batch
    if steps_before > max_staleness:
        return None
    for other in in_flight:
        steps_before_other = (pending + total - other.samples + samples) // batch
        if version + steps_before_other > other.min_version + max_staleness:
            return None
    # Trained at version + steps_before at the latest; later shards respect this bound too.
    return max(0, version + steps_before - max_staleness)


class TrainingWindow:
    """Admits this controller's claimed shards into sampling (see the module docstring)."""

    def __init__(
        self,
        client: aetcd.Client,
        job: str,
        lease: SessionLease,
        trainers: RoleDirectory,
        max_staleness: int,
        poll_s: float = 0.1,
    ) -> None:
        self.client, self.job, self.lease, self.trainers = client, job, lease, trainers
        self.max_staleness = max_staleness
        self.poll_s = poll_s

    async def in_flight(self, key: bytes) -> list[InFlight]:
        """The shards being sampled now, other than this one."""
        found = await self.client.get_prefix(keys.sampling_prefix(self.job).encode())
        out = []
        for kv in found:
            if kv.key != key:
                entry = unpack_map(kv.value, what="sampling entry")
                out.append(InFlight(int(entry.get("samples", 0)), int(entry.get("min_version", 0))))
        return out

    async def enter(self, epoch: int, idx: int, samples: int) -> int:
        """Waits until the shard fits, announces it; returns the min weight version to sample."""
        key = keys.sampling(self.job, epoch, idx).encode()
        waited = False
        while True:
            members = self.trainers.members().values()
            trainer = trainer_view(members)
            if trainer is None:  # a trainer that does not publish its batch: staleness alone
                versions = [m.weight_version for m in members if isinstance(m, TrainerMember)]
                return max(0, max(versions, default=0) - self.max_staleness)
            in_flight = await self.in_flight(key)
            min_version = min_version_to_sample(trainer, in_flight, samples, self.max_staleness)
            if min_version is not None:
                entry = pack({"samples": samples, "min_version": min_version})
                await self.client.put(key, entry, lease=lease_id_of(self.lease))
                return min_version
            if not waited:
                log.debug(
                    "shard %d/%d waits: %d shards in flight, trainer at v%d with %d pending of %d",
                    epoch, idx, len(in_flight), trainer.weight_version, trainer.pending_samples,
                    trainer.global_batch_samples,
                )  # fmt: skip
                waited = True
            await asyncio.sleep(self.poll_s)

    async def leave(self, epoch: int, idx: int) -> None:
        """The shard's push was answered (or it was given up): it no longer counts as ahead."""
        try:
            await self.client.delete(keys.sampling(self.job, epoch, idx).encode())
        except Exception as exc:  # etcd away: the lease takes the key with it in the end
            log.debug("sampling key of shard %d/%d not removed: %s", epoch, idx, exc)
