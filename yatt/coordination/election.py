"""Leader election on one etcd key (e.g. the active placement service among standbys).

The leader's key is bound to its SessionLease, so a dead leader is replaced one TTL later;
candidates wait on a watch for the key's deletion instead of polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aetcd

from yatt.coordination.client import ETCD_ERRORS, backoff
from yatt.coordination.lease import SessionLease
from yatt.coordination.watch import follow

log = logging.getLogger(__name__)


class LeaderElection:
    """Campaigns for `key`, whose value is the leader's candidate id (utf-8).

    `lost` is set when leadership ends without resign(): the lease was lost or the key was
    deleted or overwritten by someone else. A leader should stop acting when it is set.
    """

    def __init__(
        self, client: aetcd.Client, key: str, candidate_id: str, lease: SessionLease
    ) -> None:
        self.client = client
        self.key = key
        self.candidate_id = candidate_id
        self.lease = lease
        self.lost = asyncio.Event()
        self._key = key.encode()
        self._me = candidate_id.encode()
        self._revision = 0  # create_revision of our leader key while we lead
        self._monitor: asyncio.Task[None] | None = None
        lease.add_listener(on_lost=self._on_lease_lost)

    @property
    def is_leader(self) -> bool:
        return self._revision != 0

    async def leader(self) -> str | None:
        """The current leader's candidate id, or None when there is none."""
        kv = await self.client.get(self._key)
        return None if kv is None else kv.value.decode()

    async def campaign(self) -> None:
        """Returns once this candidate is leader; waits (for ever) while another one is."""
        delays = backoff()
        while not self.is_leader:
            try:
                await self._try_once()
                delays = backoff()
            except ETCD_ERRORS as exc:
                log.debug("campaign for %s: etcd error %s", self.key, exc)
                await asyncio.sleep(next(delays))
        self.lost.clear()
        self._monitor = asyncio.create_task(self._watch_leadership(), name=f"leader {self.key}")
        log.info("%s is leader of %s", self.candidate_id, self.key)

    async def _try_once(self) -> None:
        lease_id = await self.lease.wait_alive()
        tx = self.client.transactions
        ok, responses = await self.client.transaction(
            compare=[tx.create(self._key) == 0],
            success=[tx.put(self._key, self._me, lease=lease_id)],
            failure=[tx.get(self._key)],
        )
        if ok:
            self._revision = responses[0].response_put.header.revision
            return
        if not responses[0]:
            return  # deleted between compare and get: try again at once
        _, kv = responses[0][0]
        if kv.value == self._me and kv.lease == lease_id:
            self._revision = kv.create_revision  # ours already (a repeated campaign)
            return
        # Wait for the holder's key to go; the timeout re-checks in case a watch went quiet.
        # aetcd's watch_once can hang in its own clean-up, so it runs as a task we bound and,
        # on timeout, abandon (cancelled, not awaited) instead of waiting on.
        wait_s = max(2, self.lease.ttl)
        watch = asyncio.ensure_future(
            self.client.watch_once(
                self._key,
                timeout=wait_s,
                start_revision=kv.mod_revision + 1,
                kind=aetcd.EventKind.DELETE,
            )
        )
        done, _ = await asyncio.wait({watch}, timeout=wait_s + 1)
        if not done:
            watch.cancel()
            return
        with contextlib.suppress(aetcd.WatchTimeoutError):
            event = watch.result()
            if isinstance(event, Exception):
                raise event

    async def _watch_leadership(self) -> None:
        """Ends our leadership if the key is deleted or rewritten by anyone but us."""

        async def on_listing(listing: list[aetcd.KeyValue]) -> bool:
            if not self.is_leader:
                return True
            if not listing or listing[0].create_revision != self._revision:
                self._end("leader key deleted or replaced")
                return True
            return False

        async def on_event(event: aetcd.Event) -> bool:
            if event.kind == aetcd.EventKind.DELETE or event.kv.value != self._me:
                self._end("leader key deleted or replaced")
                return True
            return False

        await follow(self.client, self.key, on_listing, on_event)

    def _end(self, why: str) -> None:
        if self.is_leader:
            log.warning("%s lost leadership of %s: %s", self.candidate_id, self.key, why)
        self._revision = 0
        self.lost.set()

    async def _on_lease_lost(self, lease_id: int) -> None:
        self._end(f"lease {lease_id:x} lost")

    async def resign(self) -> None:
        """Gives up leadership (deletes the key only if it is still ours)."""
        revision, self._revision = self._revision, 0
        if self._monitor is not None:
            self._monitor.cancel()
            # Bounded: a watch being set up inside aetcd may take long to unwind.
            await asyncio.wait({self._monitor}, timeout=2)
            self._monitor = None
        if revision:
            tx = self.client.transactions
            with contextlib.suppress(*ETCD_ERRORS):
                await self.client.transaction(
                    compare=[tx.create(self._key) == revision],
                    success=[tx.delete(self._key)],
                    failure=[],
                )
