"""A key that exists exactly while this process is alive: service registration and load.

Bound to the process's SessionLease; written again whenever the lease is re-granted or etcd
answers after an outage, so a process re-registers by itself without restarting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import aetcd

from yatt.coordination.client import ETCD_ERRORS, backoff
from yatt.coordination.lease import SessionLease

log = logging.getLogger(__name__)

Value = bytes | Callable[[], bytes]


class Membership:
    """Keeps `key` = value bound to a lease; `registered` is set while it is known written.

    Pass `lease` to share the process's SessionLease (then `stop` deletes only this key);
    without it the membership grants and owns its own lease of `ttl` seconds. A callable
    value is evaluated on every write, so a re-registration carries current information.
    """

    def __init__(
        self,
        client: aetcd.Client,
        key: str,
        value: Value,
        ttl: int = 5,
        *,
        lease: SessionLease | None = None,
    ) -> None:
        self.client = client
        self.key = key
        self._value = value
        self._own_lease = lease is None
        self.lease = lease or SessionLease(client, ttl)
        self.registered = asyncio.Event()
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ever_registered = False
        self._version = 0  # bumped by update(); a write of an older value leaves _dirty set
        self.lease.add_listener(on_ready=self._on_ready, on_lost=self._on_lost)

    @property
    def lease_id(self) -> int | None:
        return self.lease.lease_id

    async def start(self, timeout: float | None = None) -> None:
        """Returns once the key is written (retrying while etcd is unreachable)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"membership {self.key}")
        if self._own_lease:
            await self.lease.start()
        elif self.lease.alive.is_set():
            self._dirty.set()
        await asyncio.wait_for(self.registered.wait(), timeout)

    async def update(self, value: Value) -> None:
        """Replaces the value; written now if etcd answers, else as soon as it does."""
        self._value = value
        self._version += 1
        self._dirty.set()
        lease_id = self.lease.lease_id
        if lease_id is not None:
            with contextlib.suppress(*ETCD_ERRORS):
                await self._write(lease_id)

    async def stop(self, revoke: bool = True) -> None:
        """Stops keeping the key. revoke=True removes it now (revoking an owned lease)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.registered.clear()
        if self._own_lease:
            await self.lease.stop(revoke=revoke)
        elif revoke:
            with contextlib.suppress(*ETCD_ERRORS):
                await self.client.delete(self.key.encode())

    # -- internals ---------------------------------------------------------------------------

    def _current(self) -> bytes:
        return self._value() if callable(self._value) else self._value

    async def _write(self, lease_id: int) -> None:
        version = self._version
        await self.client.put(self.key.encode(), self._current(), lease=lease_id)
        # Writes under a superseded lease would vanish with it; only the current one counts.
        if lease_id == self.lease.lease_id and version == self._version:
            self._dirty.clear()
            if not self.registered.is_set():
                if self._ever_registered:
                    log.warning("registration regained: %s", self.key)
                self._ever_registered = True
                self.registered.set()

    async def _on_ready(self, lease_id: int) -> None:
        self._dirty.set()

    async def _on_lost(self, lease_id: int) -> None:
        if self.registered.is_set():
            log.warning("registration lost with lease %x: %s", lease_id, self.key)
        self.registered.clear()

    async def _run(self) -> None:
        delays = backoff()
        while True:
            await self._dirty.wait()
            lease_id = self.lease.lease_id
            if lease_id is None:
                await self.lease.alive.wait()
                continue
            try:
                await self._write(lease_id)
                delays = backoff()
            except ETCD_ERRORS as exc:
                log.debug("membership write %s failed: %s", self.key, exc)
                await asyncio.sleep(next(delays))
