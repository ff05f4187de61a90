"""One placement process: campaign for leadership; while leading, read load and apply moves.

Assignments and history live in etcd, so a standby that takes over continues from the same
map, sequence number and cool-down as the leader it replaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid

import aetcd

from yatt import keys, metrics
from yatt.codec.meta import unpack_map
from yatt.contracts import WorkerMember
from yatt.coordination.client import ETCD_ERRORS, backoff
from yatt.coordination.election import LeaderElection
from yatt.coordination.lease import SessionLease
from yatt.errors import FailedPrecondition, InvalidArgument

from .config import PlacementConfig, PolicyConfig
from .core import PlacementCore
from .history import next_seq, read_history
from .state import InstanceLoad, Move, PlacementState
from .store import apply_move, fill_slots, init_assignments, read_assignments

log = logging.getLogger(__name__)

WORKER_ROLE = "worker"


def worker_instance(slot: int) -> str:
    """The member name a worker registers under keys.member(job, "worker", ...)."""
    return f"slot-{slot}"


async def read_loads(client: aetcd.Client, job: str, now: float) -> list[InstanceLoad]:
    prefix = keys.load_prefix(job)
    out = []
    for kv in await client.get_prefix(prefix.encode()):
        role, _, instance = kv.key.decode()[len(prefix) :].partition("/")
        try:
            raw = unpack_map(kv.value, what="load")
        except InvalidArgument:
            continue
        out.append(InstanceLoad.from_dict(role, instance, now, raw))
    return out


async def read_workers(client: aetcd.Client, job: str) -> dict[int, WorkerMember]:
    """slot -> what the worker on it reports (role, state, endpoints)."""
    out = {}
    for kv in await client.get_prefix(keys.members_prefix(job, WORKER_ROLE).encode()):
        try:
            info = WorkerMember.decode(kv.value)
        except InvalidArgument as exc:
            log.warning("ignoring a worker record: %s", exc)
            continue
        if info.slot is not None:
            out[info.slot] = info
    return out


class PlacementNode:
    """Leader or standby for one job's placement; `run()` until cancelled."""

    def __init__(
        self, client: aetcd.Client, cfg: PlacementConfig, candidate_id: str | None = None
    ) -> None:
        self.client = client
        self.cfg = cfg
        self.job = cfg.job
        self.core = PlacementCore(cfg)
        self.candidate_id = candidate_id or (
            f"placement-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        )
        self.leader_key = keys.placement_leader(self.job)
        self.lease = SessionLease(client, cfg.etcd.lease_ttl_s)
        self.election = LeaderElection(client, self.leader_key, self.candidate_id, self.lease)
        self.last_move_at: float | None = None
        self._seq = 0
        self._lock = asyncio.Lock()
        self.leading = asyncio.Event()
        self.ticks = 0  # policy evaluations made while leading
        metrics.bind_gauge(metrics.PLACEMENT_LEADER, (self.job,), self, lambda n: n.is_leader)

    @property
    def is_leader(self) -> bool:
        return self.election.is_leader and not self.election.lost.is_set()

    async def run(self) -> None:
        await self.lease.start()
        delays = backoff(cap=2.0)
        while True:
            await self.election.campaign()
            try:
                await self._lead()
                delays = backoff(cap=2.0)
            except ETCD_ERRORS as exc:
                log.warning("placement leadership interrupted by etcd error: %s", exc)
                await asyncio.sleep(next(delays))
            finally:
                self.leading.clear()
            if self.election.is_leader:
                await self.election.resign()

    async def _lead(self) -> None:
        if await init_assignments(self.client, self.job, self.core.initial_assignments(), "init"):
            log.info("wrote the starting assignment of %d slots", self.cfg.slots)
        fixes = self.core.repairs(await read_assignments(self.client, self.job))
        if fixes:
            await fill_slots(self.client, self.job, fixes, self.leader_key, self.candidate_id)
        last = await read_history(self.client, self.job, last=1)
        self.last_move_at = last[0].time if last else None
        self._seq = await next_seq(self.client, self.job)
        self.leading.set()
        print(f"yatt placement leading job {self.job} as {self.candidate_id}", flush=True)
        while not self.election.lost.is_set():
            await self.tick(apply=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.election.lost.wait(), self.cfg.tick_s)
        log.warning("%s stopped leading", self.candidate_id)

    async def read_state(self) -> PlacementState:
        now = time.time()
        assignments = await read_assignments(self.client, self.job)
        loads = await read_loads(self.client, self.job, now)
        workers = await read_workers(self.client, self.job)
        return self.core.state(now, assignments, loads, workers, self.last_move_at)

    async def tick(self, apply: bool = True) -> list[Move]:
        """One policy evaluation; applies (and records) its moves when `apply`."""
        async with self._lock:
            state = await self.read_state()
            moves = self.core.plan(state)
            self.ticks += 1
            if not apply:
                return moves
            applied = []
            for move in moves:
                if not self.is_leader:
                    break
                if not await apply_move(
                    self.client, self.job, move, self._seq, self.leader_key, self.candidate_id
                ):
                    # Someone else wrote meanwhile: re-read next tick rather than guess.
                    self._seq = await next_seq(self.client, self.job)
                    break
                self._seq += 1
                self.last_move_at = move.time
                applied.append(move)
                metrics.PLACEMENT_MOVES.labels(self.job, move.from_role, move.to_role).inc()
                log.info(
                    "move slot %d %s -> %s: %s",
                    move.slot,
                    move.from_role,
                    move.to_role,
                    move.reason,
                )
            return applied

    async def plan(self, dry_run: bool) -> list[Move]:
        if not self.is_leader:
            leader = await self.election.leader()
            raise FailedPrecondition(f"not the placement leader; the leader is {leader}")
        return await self.tick(apply=not dry_run)

    async def assignments(self) -> dict[int, str]:
        return await read_assignments(self.client, self.job)

    async def history(self, last: int | None = None) -> list[Move]:
        return await read_history(self.client, self.job, last)

    async def leader(self) -> str | None:
        return await self.election.leader()

    def set_policy(self, policy: PolicyConfig) -> str:
        """Swaps this process's policy (the leader's governs; standbys keep theirs for later)."""
        self.core.set_policy(policy)
        log.info("placement policy set to %s %s", policy.name, policy.params)
        return policy.name

    async def close(self) -> None:
        with contextlib.suppress(*ETCD_ERRORS):
            await self.election.resign()
        await self.lease.stop(revoke=True)
