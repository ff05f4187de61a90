"""The live members of one role of a job, kept current from etcd (list, then watch).

Controllers and placement read endpoints from here instead of asking etcd per request; after
an etcd error the directory re-lists and re-watches, so it converges again by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

import aetcd

from yatt import keys
from yatt.contracts import ServiceMember, service_record
from yatt.coordination.watch import follow
from yatt.errors import InvalidArgument

log = logging.getLogger(__name__)

Members = dict[str, ServiceMember]


class RoleDirectory:
    """instance -> member record (service_record(role)) for one role of a job."""

    def __init__(self, client: aetcd.Client, job: str, role: str) -> None:
        self.client = client
        self.job, self.role = job, role
        self.prefix = keys.members_prefix(job, role)
        self._members: Members = {}
        self._version = 0
        self._changed = asyncio.Condition()
        self._callbacks: list[Callable[[Members], None]] = []
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout: float | None = 10.0) -> RoleDirectory:
        """Starts following etcd; returns after the first full listing."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"directory {self.prefix}")
        await asyncio.wait_for(self.synced.wait(), timeout)
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def __aenter__(self) -> RoleDirectory:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def members(self) -> Members:
        """A snapshot; later changes do not alter it."""
        return dict(self._members)

    def on_change(self, callback: Callable[[Members], None]) -> None:
        """callback(snapshot) after every change (called on the event loop; keep it quick)."""
        self._callbacks.append(callback)

    async def wait_until(self, predicate: Callable[[Members], bool], timeout: float) -> Members:
        """The first snapshot satisfying predicate; TimeoutError after timeout seconds."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while not predicate(self._members):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{self.prefix}: condition not met in {timeout}s; members: "
                        f"{sorted(self._members)}"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)
            return self.members()

    async def wait_for(self, count: int, timeout: float) -> Members:
        """Waits until at least count members are registered."""
        return await self.wait_until(lambda m: len(m) >= count, timeout)

    async def changes(self) -> AsyncIterator[Members]:
        """Yields the current snapshot, then one per change (intermediate ones may merge)."""
        seen = -1
        while True:
            async with self._changed:
                while self._version == seen:
                    await self._changed.wait()
                seen = self._version
                snapshot = self.members()
            yield snapshot

    # -- following etcd ----------------------------------------------------------------------

    def _decode(self, key: bytes, value: bytes) -> tuple[str, ServiceMember | None]:
        instance = key.decode()[len(self.prefix) :]
        try:
            return instance, service_record(self.role).decode(value, f"member {instance}")
        except InvalidArgument as exc:
            # One malformed registration must not hide the rest of the role.
            log.warning("ignoring member %s: %s", instance, exc)
            return instance, None

    async def _publish(self, members: Members) -> None:
        if members == self._members and self.synced.is_set():
            return
        async with self._changed:
            self._members = members
            self._version += 1
            self._changed.notify_all()
        for callback in list(self._callbacks):
            try:
                callback(self.members())
            except Exception:
                log.exception("directory callback %r failed", callback)

    async def _run(self) -> None:
        await follow(self.client, self.prefix, self._on_listing, self._on_event, prefix=True)

    async def _on_listing(self, listing: list[aetcd.KeyValue]) -> None:
        members: Members = {}
        for kv in listing:
            instance, info = self._decode(kv.key, kv.value)
            if info is not None:
                members[instance] = info
        await self._publish(members)
        self.synced.set()

    async def _on_event(self, event: aetcd.Event) -> None:
        members = dict(self._members)
        instance, info = self._decode(event.kv.key, event.kv.value)
        if event.kind == aetcd.EventKind.PUT and info is not None:
            members[instance] = info
        else:
            members.pop(instance, None)
        await self._publish(members)
