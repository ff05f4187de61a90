"""Connecting to etcd (aetcd) with settings that recover fast from an etcd restart.

Every coordination piece takes a connected aetcd.Client; this is where it is made, and where
the errors that mean "etcd did not answer" and the retry backoff are defined once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterator

import aetcd
import grpc

from yatt.config.common import EtcdConfig
from yatt.errors import ConfigError, Unavailable

log = logging.getLogger(__name__)

# Per-RPC deadline: a hung etcd must surface as an error, or keepalive loops would stall
# past the lease TTL without noticing.
RPC_TIMEOUT_S = 5
# gRPC's default reconnect backoff grows to 120 s; capped at 1 s a restarted etcd is
# reachable again within about a second.
CHANNEL_OPTIONS = {
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
}
# What a call to etcd raises when etcd is down, slow or restarting.
ETCD_ERRORS: tuple[type[BaseException], ...] = (
    aetcd.ClientError,
    grpc.aio.AioRpcError,
    asyncio.TimeoutError,
    OSError,
)


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """'host:port' (an http:// prefix is tolerated) -> (host, port)."""
    raw = endpoint.removeprefix("http://").rstrip("/")
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"etcd.endpoint: expected host:port, got {endpoint!r}")
    return host, int(port)


def make_client(cfg: EtcdConfig) -> aetcd.Client:
    """An unconnected client for cfg.endpoint (aetcd connects lazily on first call)."""
    host, port = parse_endpoint(cfg.endpoint)
    return aetcd.Client(host=host, port=port, timeout=RPC_TIMEOUT_S, options=CHANNEL_OPTIONS)


async def connect(cfg: EtcdConfig, timeout: float = 10.0) -> aetcd.Client:
    """A client that has answered one request; raises Unavailable if etcd does not within timeout."""
    client = make_client(cfg)
    deadline = time.monotonic() + timeout
    delays = backoff()
    while True:
        try:
            await client.get(b"/yatt/ping")
            return client
        except ETCD_ERRORS as exc:
            if time.monotonic() + 0.1 >= deadline:
                await client.close()
                raise Unavailable(f"etcd at {cfg.endpoint} did not answer: {exc}") from exc
            await asyncio.sleep(min(next(delays), max(0.0, deadline - time.monotonic())))


def backoff(initial: float = 0.1, cap: float = 1.0, factor: float = 2.0) -> Iterator[float]:
    """Endless jittered exponential delays; the cap bounds how late a recovery is noticed."""
    delay = initial
    while True:
        yield delay * random.uniform(0.5, 1.0)
        delay = min(cap, delay * factor)


def lease_id_of(lease: object) -> int:
    """An int lease id from an int, an aetcd Lease, or anything with a `lease_id` attribute."""
    if isinstance(lease, int):
        return lease
    for attr in ("lease_id", "id"):
        value = getattr(lease, attr, None)
        if isinstance(value, int):
            return value
    raise Unavailable("no lease held (etcd unreachable or lease lost)")
