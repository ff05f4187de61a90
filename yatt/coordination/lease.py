"""One etcd lease per process, kept alive, and re-granted when it is lost.

Membership, shard claims and election all bind their keys to this lease, so a dead process
loses all of them together after one TTL, and a live one gets a fresh lease after an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import aetcd

from yatt.coordination.client import ETCD_ERRORS, backoff
from yatt.errors import Unavailable

log = logging.getLogger(__name__)

Listener = Callable[[int], Awaitable[None]]


class SessionLease:
    """A lease kept alive every ttl/3, re-granted (new id) when etcd says it is gone.

    If etcd cannot be reached for longer than the TTL, the lease is presumed lost: listeners
    hear `on_lost` then, and once etcd answers the old lease is revoked (its keys may have
    outlived the outage, since etcd extends leases when it restarts) and a new one granted,
    so what listeners were told is what etcd holds.
    """

    def __init__(self, client: aetcd.Client, ttl: int) -> None:
        if ttl < 1:
            raise ValueError("lease ttl must be >= 1 s")
        self.client = client
        self.ttl = ttl
        self._id: int | None = None
        self._stale_id: int | None = None
        self.generation = 0
        self.alive = asyncio.Event()
        self._on_ready: list[Listener] = []
        self._on_lost: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._last_ok = 0.0

    @property
    def lease_id(self) -> int | None:
        """The current lease id, None while no lease is held."""
        return self._id

    def require_id(self) -> int:
        if self._id is None:
            raise Unavailable("no etcd lease held (etcd unreachable or lease lost)")
        return self._id

    def add_listener(
        self, on_ready: Listener | None = None, on_lost: Listener | None = None
    ) -> None:
        """on_ready(lease_id): after a grant and after etcd answers again following errors
        (keys may need writing again). on_lost(old_id): the lease and its keys are gone."""
        if on_ready is not None:
            self._on_ready.append(on_ready)
        if on_lost is not None:
            self._on_lost.append(on_lost)

    async def start(self, timeout: float | None = None) -> int:
        """Grants the first lease (retrying while etcd is unreachable) and starts keepalive."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="etcd-lease-keepalive")
        try:
            await asyncio.wait_for(self.alive.wait(), timeout)
        except TimeoutError:
            raise Unavailable(f"no etcd lease granted within {timeout}s") from None
        return self.require_id()

    async def stop(self, revoke: bool = True) -> None:
        """Stops keepalive; revoke=True deletes every key bound to the lease at once."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        lease_id, self._id = self._id, None
        self.alive.clear()
        if revoke and self._stale_id is not None:
            with contextlib.suppress(*ETCD_ERRORS):
                await self._revoke_stale()
        if lease_id is None:
            return
        if revoke:
            try:
                await self.client.revoke_lease(lease_id)
            except (aetcd.ConnectionFailedError, aetcd.ConnectionTimeoutError) as exc:
                log.warning("could not revoke lease %x (it expires by TTL): %s", lease_id, exc)
            except ETCD_ERRORS as exc:
                log.debug("lease %x already gone: %s", lease_id, exc)
        # Holders (leadership, claims) must stop relying on keys bound to this lease.
        await self._notify(self._on_lost, lease_id)

    async def wait_alive(self, timeout: float | None = None) -> int:
        await asyncio.wait_for(self.alive.wait(), timeout)
        return self.require_id()

    # -- the keepalive loop ------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if self._id is None:
                await self._grant()
            await self._keepalive()

    async def _grant(self) -> None:
        delays = backoff()
        while True:
            try:
                if self._stale_id is not None:
                    await self._revoke_stale()
                lease = await self.client.lease(self.ttl)
                break
            except ETCD_ERRORS as exc:
                log.debug("lease grant failed: %s", exc)
                await asyncio.sleep(next(delays))
        self._id, self._last_ok = lease.id, time.monotonic()
        self.generation += 1
        self.alive.set()
        if self.generation > 1:
            log.warning("etcd lease regained: %x (ttl %ss)", lease.id, self.ttl)
        await self._notify(self._on_ready, lease.id)

    async def _revoke_stale(self) -> None:
        stale = self._stale_id
        try:
            await self.client.revoke_lease(stale)
        except aetcd.ClientError as exc:
            # NotFound-like answers mean etcd already dropped it; connection errors re-raise.
            if isinstance(exc, aetcd.ConnectionFailedError | aetcd.ConnectionTimeoutError):
                raise
            log.debug("stale lease %x already gone: %s", stale, exc)
        self._stale_id = None

    async def _keepalive(self) -> None:
        """Refreshes until the lease is lost; returns with self._id cleared."""
        failing = False
        while True:
            # After an error, retry often: the lease must be refreshed before the TTL runs out.
            await asyncio.sleep(min(0.25, self.ttl / 6) if failing else self.ttl / 3)
            lease_id = self._id
            assert lease_id is not None
            try:
                reply = await self.client.refresh_lease(lease_id)
            except ETCD_ERRORS as exc:
                if not failing:
                    log.warning("etcd lease %x refresh failed, retrying: %s", lease_id, exc)
                failing = True
                if time.monotonic() - self._last_ok > self.ttl:
                    self._stale_id = lease_id
                    await self._lose(lease_id, "etcd unreachable for longer than the TTL")
                    return
                continue
            if reply is None or reply.TTL <= 0:
                await self._lose(lease_id, "etcd reports it expired")
                return
            self._last_ok = time.monotonic()
            if failing:
                failing = False
                log.warning("etcd answers again; lease %x still valid", lease_id)
                await self._notify(self._on_ready, lease_id)

    async def _lose(self, lease_id: int, why: str) -> None:
        log.warning("etcd lease %x lost (%s); re-granting when etcd answers", lease_id, why)
        self._id = None
        self.alive.clear()
        await self._notify(self._on_lost, lease_id)

    async def _notify(self, listeners: list[Listener], lease_id: int) -> None:
        for listener in list(listeners):
            try:
                await listener(lease_id)
            except Exception:  # a faulty listener must not stop the keepalive loop
                log.exception("lease listener %r failed", listener)
