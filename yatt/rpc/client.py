"""ServiceClient: the base of every typed client (one per service, beside its server.py).

A client wraps a channel it is given (a pool's cached one) or opens its own with `connect`;
its methods take and return domain objects and raise yatt.errors domain errors.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

import grpc

from yatt.defaults import MAX_MESSAGE_BYTES
from yatt.rpc.channel import make_channel


class ServiceClient:
    """Holds the channel; closes it on exit only when the client opened it."""

    def __init__(self, channel: grpc.aio.Channel, target: str = "") -> None:
        self.channel = channel
        self.target = target  # host:port, when known (names the peer in transports and logs)
        self._owned = False

    @classmethod
    def connect(cls, endpoint: str, max_message_bytes: int = MAX_MESSAGE_BYTES) -> Self:
        """A client with its own channel to endpoint (close it, or use `async with`)."""
        client = cls(make_channel(endpoint, max_message_bytes), endpoint)
        client._owned = True
        return client

    async def close(self) -> None:
        if self._owned:
            await self.channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
