"""Shard claims: which controller owns which prompt shard, decided by etcd transactions.

A claim is a key bound to the owner's lease, so a dead controller's shards become claimable
after one TTL; marking done checks the claim is still ours, so a stale owner cannot.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aetcd

from yatt import keys
from yatt.codec.meta import pack, unpack_map
from yatt.coordination.client import lease_id_of
from yatt.coordination.lease import SessionLease

log = logging.getLogger(__name__)


@dataclass
class ShardState:
    """Value of keys.shard(): the shard reference (dataset path, row range) and its progress."""

    state: Literal["pending", "done"] = "pending"
    ref: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    owner: str | None = None

    @property
    def pending(self) -> bool:
        return self.state == "pending"


def encode_shard(shard: ShardState) -> bytes:
    return pack(
        {"state": shard.state, "ref": shard.ref, "stats": shard.stats, "owner": shard.owner}
    )


def decode_shard(data: bytes) -> ShardState:
    raw = unpack_map(data, what="shard state")
    return ShardState(
        state=raw.get("state", "pending"),
        ref=raw.get("ref") or {},
        stats=raw.get("stats") or {},
        owner=raw.get("owner"),
    )


@dataclass(frozen=True)
class HeldClaim:
    """What we saw when we claimed: compared again when marking done or releasing."""

    value: bytes
    claim_revision: int
    shard_revision: int
    shard: ShardState


class ShardClaims:
    """Claims shards of one job for `owner`, with keys bound to `lease`.

    Exactness: try_claim reads the shard, then commits only if the claim key does not exist
    (create_revision == 0) AND the shard key is unchanged since that read (mod_revision equal),
    so the pending state it decoded is the state it claimed, whatever else the value holds.
    mark_done/release commit only if the claim key still holds our value (owner + lease id)
    and was created by our own claim (create_revision equal).
    """

    def __init__(
        self, client: aetcd.Client, job: str, owner: str, lease: SessionLease | int
    ) -> None:
        self.client = client
        self.job = job
        self.owner = owner
        self._lease = lease
        self._held: dict[tuple[int, int], HeldClaim] = {}
        if isinstance(lease, SessionLease):
            lease.add_listener(on_lost=self._on_lease_lost)

    def held(self) -> set[tuple[int, int]]:
        """(epoch, idx) of the shards this object claimed and has not finished or released."""
        return set(self._held)

    def _claim_value(self, lease_id: int) -> bytes:
        return pack({"owner": self.owner, "lease": lease_id})

    async def try_claim(self, epoch: int, idx: int) -> bool:
        """Claims a pending, unclaimed shard; False if it is done, missing or owned."""
        shard_key = keys.shard(self.job, epoch, idx).encode()
        claim_key = keys.claim(self.job, epoch, idx).encode()
        current = await self.client.get(shard_key)
        if current is None:
            return False
        shard = decode_shard(current.value)
        if not shard.pending:
            return False
        lease_id = lease_id_of(self._lease)
        value = self._claim_value(lease_id)
        tx = self.client.transactions
        ok, responses = await self.client.transaction(
            compare=[tx.create(claim_key) == 0, tx.mod(shard_key) == current.mod_revision],
            success=[tx.put(claim_key, value, lease=lease_id)],
            failure=[],
        )
        if ok:
            revision = responses[0].response_put.header.revision
            self._held[(epoch, idx)] = HeldClaim(value, revision, current.mod_revision, shard)
        return bool(ok)

    async def claim_next(self, epoch: int) -> int | None:
        """Claims some pending unclaimed shard of epoch; None when there is none left to claim."""
        shards = await self.client.get_prefix(keys.shards_prefix(self.job, epoch).encode())
        claims = await self.client.get_prefix(f"{keys.claims_prefix(self.job)}{epoch}/".encode())
        taken = {_idx_of(kv.key) for kv in claims}
        candidates = [
            _idx_of(kv.key)
            for kv in shards
            if _idx_of(kv.key) not in taken and decode_shard(kv.value).pending
        ]
        if not candidates:
            return None
        # Start at a random place so concurrent controllers do not all race for shard 0.
        candidates.sort()
        start = random.randrange(len(candidates))
        for idx in candidates[start:] + candidates[:start]:
            if await self.try_claim(epoch, idx):
                return idx
        return None

    async def mark_done(self, epoch: int, idx: int, stats: dict[str, Any]) -> bool:
        """Marks the shard done and drops the claim, only if the claim is still ours."""
        held = self._held.get((epoch, idx))
        if held is None:
            return False
        shard_key = keys.shard(self.job, epoch, idx).encode()
        claim_key = keys.claim(self.job, epoch, idx).encode()
        done = ShardState("done", ref=held.shard.ref, stats=stats, owner=self.owner)
        tx = self.client.transactions
        ok, _ = await self.client.transaction(
            compare=[
                tx.value(claim_key) == held.value,
                tx.create(claim_key) == held.claim_revision,
                tx.mod(shard_key) == held.shard_revision,
            ],
            success=[tx.put(shard_key, encode_shard(done)), tx.delete(claim_key)],
            failure=[],
        )
        self._held.pop((epoch, idx), None)
        if not ok:
            log.warning("shard %s/%s: claim lost before done; not marked", epoch, idx)
        return bool(ok)

    async def release(self, epoch: int, idx: int) -> bool:
        """Gives a claimed shard back (it stays pending); False if it was no longer ours."""
        held = self._held.pop((epoch, idx), None)
        if held is None:
            return False
        claim_key = keys.claim(self.job, epoch, idx).encode()
        tx = self.client.transactions
        ok, _ = await self.client.transaction(
            compare=[
                tx.value(claim_key) == held.value,
                tx.create(claim_key) == held.claim_revision,
            ],
            success=[tx.delete(claim_key)],
            failure=[],
        )
        return bool(ok)

    async def _on_lease_lost(self, lease_id: int) -> None:
        if self._held:
            log.warning("lease %x lost: %d shard claims dropped", lease_id, len(self._held))
        self._held.clear()


def _idx_of(key: bytes) -> int:
    return int(key.rsplit(b"/", 1)[1])


async def claim_owner(client: aetcd.Client, job: str, epoch: int, idx: int) -> str | None:
    """Who holds the claim on a shard now, or None."""
    kv = await client.get(keys.claim(job, epoch, idx).encode())
    return None if kv is None else unpack_map(kv.value, what="claim").get("owner")


async def publish_shards(
    client: aetcd.Client, job: str, epoch: int, refs: Sequence[dict[str, Any]]
) -> int:
    """Writes shard i = pending(refs[i]) where no shard i exists yet; returns how many were new.

    Existing shards are left alone, so re-publishing an epoch after a restart is harmless.
    """
    tx = client.transactions
    items = [(keys.shard(job, epoch, idx).encode(), ref) for idx, ref in enumerate(refs)]
    created = 0
    # Batches of absent keys go in one transaction (etcd allows 128 ops); a batch where some
    # key exists already falls back to one create-if-absent transaction per key.
    for start in range(0, len(items), 64):
        batch = items[start : start + 64]
        puts = [tx.put(key, encode_shard(ShardState(ref=dict(ref)))) for key, ref in batch]
        ok, _ = await client.transaction(
            compare=[tx.create(key) == 0 for key, _ in batch], success=puts, failure=[]
        )
        if ok:
            created += len(batch)
            continue
        for (key, _), put in zip(batch, puts, strict=True):
            ok, _ = await client.transaction(
                compare=[tx.create(key) == 0], success=[put], failure=[]
            )
            created += int(ok)
    return created


async def epoch_progress(client: aetcd.Client, job: str, epoch: int) -> tuple[int, int]:
    """(done, total) shards of an epoch."""
    shards = await client.get_prefix(keys.shards_prefix(job, epoch).encode())
    states = [decode_shard(kv.value) for kv in shards]
    return sum(not s.pending for s in states), len(states)
