"""The live instances of one role, picked by least load, with failover between them.

A call that fails with Unavailable, DeadlineExceeded or ResourceExhausted is retried on
another instance (then any instance) with exponential backoff, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Set
from typing import TypeVar

import aetcd
import grpc

from yatt.contracts import ServiceMember
from yatt.coordination.discovery import RoleDirectory
from yatt.errors import RETRYABLE, YattError
from yatt.rpc.channel import make_channel

log = logging.getLogger(__name__)

T = TypeVar("T")
Member = ServiceMember


class NoInstance(Exception):
    """No instance of a role answered within the wait."""


class RolePool:
    """Instances of `role` in `job`; channels are cached per endpoint."""

    def __init__(self, client: aetcd.Client, job: str, role: str) -> None:
        self.role = role
        self.directory = RoleDirectory(client, job, role)
        self._channels: dict[str, grpc.aio.Channel] = {}
        # Calls this process has outstanding per instance: fresher than the published load.
        self._outstanding: dict[str, int] = defaultdict(int)

    async def start(self) -> RolePool:
        await self.directory.start()
        return self

    async def close(self) -> None:
        await self.directory.stop()
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    def members(self) -> dict[str, Member]:
        return self.directory.members()

    def channel(self, endpoint: str) -> grpc.aio.Channel:
        if endpoint not in self._channels:
            self._channels[endpoint] = make_channel(endpoint)
        return self._channels[endpoint]

    def _cost(self, instance: str, info: Member) -> float:
        load = info.load
        return self._outstanding[instance] + load.get("queue_depth", 0) + load.get("in_flight", 0)

    def pick(
        self, exclude: Set[str] = frozenset(), accept: Callable[[Member], bool] | None = None
    ) -> tuple[str, Member] | None:
        """The acceptable instance with the least known load, preferring ones not in exclude."""
        members = [
            (name, info)
            for name, info in self.members().items()
            if info.endpoint and (accept is None or accept(info))
        ]
        fresh = [m for m in members if m[0] not in exclude] or members
        if not fresh:
            return None
        return min(fresh, key=lambda m: self._cost(*m))

    async def wait_pick(
        self,
        exclude: set[str],
        accept: Callable[[Member], bool] | None,
        timeout: float,
    ) -> tuple[str, Member]:
        found = self.pick(exclude, accept)
        if found is not None:
            return found
        try:
            await self.directory.wait_until(
                lambda members: any(accept is None or accept(i) for i in members.values()), timeout
            )
        except TimeoutError:
            raise NoInstance(f"no {self.role} instance available within {timeout:.0f}s") from None
        found = self.pick(exclude, accept)
        if found is None:
            raise NoInstance(f"no {self.role} instance available")
        return found

    async def call(
        self,
        fn: Callable[[grpc.aio.Channel, Member], Awaitable[T]],
        *,
        attempts: int,
        backoff_s: float,
        wait_s: float,
        accept: Callable[[Member], bool] | None = None,
    ) -> T:
        """fn(channel, member) on the least-loaded instance, failing over on RETRYABLE errors."""
        tried: set[str] = set()
        delay = backoff_s
        last: YattError | None = None
        for attempt in range(attempts):
            instance, info = await self.wait_pick(tried, accept, wait_s)
            self._outstanding[instance] += 1
            try:
                return await fn(self.channel(info.endpoint), info)
            except RETRYABLE as exc:
                last = exc
                tried.add(instance)
                log.info(
                    "%s %s: %s (attempt %d/%d), failing over",
                    self.role,
                    instance,
                    type(exc).__name__,
                    attempt + 1,
                    attempts,
                )
            finally:
                self._outstanding[instance] -= 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        assert last is not None
        raise last
