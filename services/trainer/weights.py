"""WeightPublisher: consistent, versioned weight snapshots for GetWeights, and the push of every
new version to the registered rollout instances, recording what each acknowledged.

Snapshots are taken on the engine thread between steps, so a snapshot is never half-updated.
Each instance gets the transport the config (or `auto`: shm on the same host) picks for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from yatt.contracts import RolloutMember
from yatt.errors import InvalidArgument, Unimplemented, YattError
from yatt.services.rollout.client import RolloutClient
from yatt.services.trainer.core import WeightSnapshot
from yatt.transport.base import WeightSender
from yatt.transport.registry import build_sender, choose

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

    def current_version(self) -> int:
        return self._current()

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


# A manifest transport answering these will not work for that instance: use grpc from then on.
NOT_FOR_THIS_PAIR = (Unimplemented, InvalidArgument)


class RolloutPusher:
    """Pushes each new version to every rollout instance in a RoleDirectory; acked[instance].

    transport: auto | grpc | shm | nccl. With auto, an instance on this host (same host_id in
    its member info) gets shm, others grpc; an shm failure that is about the pair (no such RPC,
    segment not visible) moves that instance to grpc. transports[instance] is what last worked.
    """

    def __init__(
        self,
        publisher: WeightPublisher,
        directory: Any,
        chunk_bytes: int,
        timeout_s: float,
        max_message_bytes: int,
        transport: str = "auto",
        job: str = "default",
        host: str = "127.0.0.1",
    ) -> None:
        self.publisher = publisher
        self.directory = directory
        self.chunk_bytes = chunk_bytes
        self.timeout_s = timeout_s
        self.max_message_bytes = max_message_bytes
        self.setting = transport
        self.job = job
        self.host = host
        self.acked: dict[str, int] = {}
        self.transports: dict[str, str] = {}
        self._grpc_only: set[str] = set()
        self._senders: dict[str, WeightSender] = {}
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
        """Stops pushing and frees what the transports hold (shared-memory segments)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for sender in self._senders.values():
            await asyncio.to_thread(sender.close)
        self._senders.clear()

    def sender(self, name: str) -> WeightSender:
        if name not in self._senders:
            self._senders[name] = build_sender(
                name, job=self.job, chunk_bytes=self.chunk_bytes, host=self.host
            )
        return self._senders[name]

    def _behind(self, version: int) -> dict[str, RolloutMember]:
        out = {}
        for instance, info in self.directory.members().items():
            if not isinstance(info, RolloutMember) or not info.endpoint:
                continue
            if max(self.acked.get(instance, -1), info.weight_version) < version:
                out[instance] = info
        return out

    def _transport_for(self, instance: str, info: RolloutMember) -> str:
        if instance in self._grpc_only:
            return "grpc"
        return choose(self.setting, info)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                snapshot = await self.publisher.get(0)
                targets = self._behind(snapshot.version)
                if targets:
                    await asyncio.gather(
                        *(self._push_one(i, info, snapshot) for i, info in targets.items())
                    )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("weight push round failed")
                await asyncio.sleep(1.0)
                self._wake.set()

    async def _push_one(self, instance: str, info: RolloutMember, snapshot: WeightSnapshot) -> None:
        name = self._transport_for(instance, info)
        start = time.perf_counter()
        try:
            sender = self.sender(name)
            manifest = await asyncio.to_thread(sender.publish, snapshot.version, snapshot.tensors)
        except (OSError, YattError) as exc:  # e.g. /dev/shm full, no CUDA
            log.warning("%s transport unusable for %s: %s", name, instance, exc)
            if self._fall_back(instance, name, True):
                self._wake.set()
            return
        try:
            async with RolloutClient.connect(info.endpoint, self.max_message_bytes) as rollout:
                reply = await sender.send(
                    rollout, manifest, snapshot.tensors, timeout_s=self.timeout_s
                )
        except YattError as exc:
            log.warning(
                "push of version %d to %s over %s failed: %s: %s",
                snapshot.version, instance, name, type(exc).__name__, exc,
            )  # fmt: skip
            if self._fall_back(instance, name, isinstance(exc, NOT_FOR_THIS_PAIR)):
                self._wake.set()
            return
        except OSError as exc:  # e.g. a segment that vanished under the sender
            log.warning("%s transport unusable for %s: %s", name, instance, exc)
            if self._fall_back(instance, name, True):
                self._wake.set()
            return
        self.acked[instance] = reply.weight_version
        self.transports[instance] = name
        log.info(
            "rollout %s acknowledged version %d over %s (%.1f MB in %.3fs)",
            instance, reply.weight_version, name, snapshot.nbytes / 1e6,
            time.perf_counter() - start,
        )  # fmt: skip

    def _fall_back(self, instance: str, name: str, about_pair: bool) -> bool:
        if self.setting == "auto" and name != "grpc" and about_pair:
            self._grpc_only.add(instance)
            return True
        return False
