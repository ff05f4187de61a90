"""WeightPublisher: consistent, versioned weight snapshots for GetWeights, and the push of every
new version to the registered rollout instances (LoadWeights), recording what each acknowledged.

Snapshots are taken on the engine thread between steps, so a snapshot is never half-updated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from yatt.protos import rollout_pb2_grpc
from yatt.rpc.channel import make_channel
from yatt.services.trainer.convert import weight_chunks
from yatt.services.trainer.core import WeightSnapshot

log = logging.getLogger(__name__)


class WeightPublisher:
    """Hands out the newest snapshot at or after a version, taking one only when asked."""

    def __init__(
        self,
        take_snapshot: Callable[[], Awaitable[WeightSnapshot]],
        current_version: Callable[[], int],
    ) -> None:
        self._take = take_snapshot
        self._current = current_version
        self._cached: WeightSnapshot | None = None
        self._lock = asyncio.Lock()
        self._changed = asyncio.Condition()

    async def notify(self) -> None:
        """Called after a step: wakes callers waiting for a newer version."""
        async with self._changed:
            self._changed.notify_all()

    async def wait_for_version(self, version: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._current() >= version)

    async def get(self, min_version: int = 0) -> WeightSnapshot:
        """The newest version's snapshot, waiting until the trainer reaches min_version."""
        await self.wait_for_version(min_version)
        async with self._lock:
            cached = self._cached
            if cached is None or cached.version < self._current():
                cached = await self._take()
                self._cached = cached
            return cached


class RolloutPusher:
    """Pushes each new version to every rollout instance in a RoleDirectory; acked[instance]."""

    def __init__(
        self,
        publisher: WeightPublisher,
        directory: Any,
        chunk_bytes: int,
        timeout_s: float,
        max_message_bytes: int,
    ) -> None:
        self.publisher = publisher
        self.directory = directory
        self.chunk_bytes = chunk_bytes
        self.timeout_s = timeout_s
        self.max_message_bytes = max_message_bytes
        self.acked: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        directory.on_change(lambda _members: self._wake.set())

    def poke(self) -> None:
        """A new version exists (or members changed): push soon."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="weight-push")
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _behind(self, version: int) -> dict[str, str]:
        out = {}
        for instance, info in self.directory.members().items():
            endpoint = info.get("endpoint")
            # Rollout members publish the version they serve as "version".
            served = info.get("version", info.get("weight_version"))
            have = max(self.acked.get(instance, -1), -1 if served is None else int(served))
            if endpoint and have < version:
                out[instance] = endpoint
        return out

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                snapshot = await self.publisher.get(0)
                targets = self._behind(snapshot.version)
                if targets:
                    await asyncio.gather(
                        *(self._push_one(i, e, snapshot) for i, e in targets.items())
                    )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("weight push round failed")
                await asyncio.sleep(1.0)
                self._wake.set()

    async def _push_one(self, instance: str, endpoint: str, snapshot: WeightSnapshot) -> None:
        start = time.perf_counter()
        try:
            reply = await push_weights(
                endpoint, snapshot, self.chunk_bytes, self.timeout_s, self.max_message_bytes
            )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "push of version %d to %s failed: %s", snapshot.version, instance, exc.code()
            )
            return
        self.acked[instance] = int(reply.version)
        log.info(
            "rollout %s acknowledged version %d (%.1f MB in %.2fs)",
            instance, reply.version, snapshot.nbytes / 1e6, time.perf_counter() - start,
        )  # fmt: skip


async def push_weights(
    endpoint: str,
    snapshot: WeightSnapshot,
    chunk_bytes: int,
    timeout_s: float,
    max_message_bytes: int,
) -> Any:
    """One LoadWeights client stream; returns the rollout's LoadWeightsReply."""
    async with make_channel(endpoint, max_message_bytes) as channel:
        stub = rollout_pb2_grpc.RolloutServiceStub(channel)
        return await stub.LoadWeights(weight_chunks(snapshot, chunk_bytes), timeout=timeout_s)
