"""Following one etcd key or prefix: read it, then watch from the read's revision; on an etcd
error back off (bounded) and read again, for as long as the caller wants.

Directories, leader monitors and workers all follow keys this way; it is written once so a fix
to a watch hang lands everywhere. Two hangs are bounded here: aetcd's watch cancellation
(cancel_watch) and etcd answering nothing while it restarts (every call has a deadline).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aetcd

from yatt.coordination.client import ETCD_ERRORS, backoff, cancel_watch

log = logging.getLogger(__name__)

# What breaks a watch: etcd away, a compacted revision to resume from, a timed-out call.
WATCH_ERRORS: tuple[type[BaseException], ...] = (
    *ETCD_ERRORS,
    aetcd.RevisionCompactedError,
    aetcd.WatchTimeoutError,
)

# Each callback returns True to stop following (the follow() call then returns).
OnListing = Callable[[list[aetcd.KeyValue]], Awaitable[bool | None]]
OnEvent = Callable[[aetcd.Event], Awaitable[bool | None]]


async def follow(
    client: aetcd.Client,
    key: str,
    on_listing: OnListing,
    on_event: OnEvent,
    *,
    prefix: bool = False,
) -> None:
    """Calls on_listing with the key's (or prefix's) current values, then on_event for every
    change after that listing, until a callback returns True; after a broken watch it lists
    again, so the caller converges whatever it missed. Warns once per outage."""
    raw = key.encode()
    delays = backoff()
    quiet = False
    while True:
        try:
            if prefix:
                listing = await client.get_prefix(raw)
            else:
                listing = await client.get_range(raw, raw + b"\0")
            if await on_listing(list(listing)):
                return
            # Starting right after the listing's revision: no event is missed or repeated.
            start = listing.header.revision + 1
            if prefix:
                watch = await client.watch_prefix(raw, start_revision=start)
            else:
                watch = await client.watch(raw, start_revision=start)
            delays, quiet = backoff(), False
            try:
                async for event in watch:
                    if await on_event(event):
                        return
            finally:
                await cancel_watch(watch)
        except WATCH_ERRORS as exc:
            level = logging.DEBUG if quiet else logging.WARNING
            log.log(level, "watch on %s broke, reading it again: %s", key, exc)
            quiet = True
        await asyncio.sleep(next(delays))
