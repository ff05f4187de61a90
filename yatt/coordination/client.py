"""Connecting to etcd (aetcd) with settings that recover fast from an etcd restart.

Every coordination piece takes a connected aetcd.Client; this is where it is made, and where
the errors that mean "etcd did not answer" and the retry backoff are defined once. TLS, mutual
TLS and user/password come from EtcdConfig or the YATT_ETCD_* variables (docs/security.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import Iterator

import aetcd
import grpc

from yatt.config.common import EtcdConfig
from yatt.config.security import ClientSecurity
from yatt.errors import ConfigError, Unavailable
from yatt.security.credentials import channel_credentials, read_secret
from yatt.security.etcd import SecureEtcdClient

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


# Fallbacks for EtcdConfig's security fields, so commands that build EtcdConfig(endpoint=...)
# (yatt status, yatt train) reach a secured etcd too.
ENV_ETCD = {
    "ca_file": "YATT_ETCD_CA",
    "cert_file": "YATT_ETCD_CERT",
    "key_file": "YATT_ETCD_KEY",
    "user": "YATT_ETCD_USER",
    "password_file": "YATT_ETCD_PASSWORD_FILE",
}


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """'host:port' (an http:// or https:// prefix is tolerated) -> (host, port)."""
    raw = endpoint.removeprefix("http://").removeprefix("https://").rstrip("/")
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"etcd.endpoint: expected host:port, got {endpoint!r}")
    return host, int(port)


def _setting(cfg: EtcdConfig, field: str) -> str | None:
    return getattr(cfg, field) or os.environ.get(ENV_ETCD[field]) or None


def make_client(cfg: EtcdConfig) -> aetcd.Client:
    """An unconnected client for cfg.endpoint (aetcd connects lazily on first call)."""
    host, port = parse_endpoint(cfg.endpoint)
    ca, cert, key = (_setting(cfg, f) for f in ("ca_file", "cert_file", "key_file"))
    user = _setting(cfg, "user")
    tls = bool(ca or cert or cfg.endpoint.startswith("https://"))
    if not tls and not user:
        return aetcd.Client(host=host, port=port, timeout=RPC_TIMEOUT_S, options=CHANNEL_OPTIONS)
    credentials = None
    if tls:
        try:
            security = ClientSecurity(ca_file=ca, cert_file=cert, key_file=key, tls=True)
        except ValueError as exc:
            raise ConfigError("etcd.cert_file and etcd.key_file must be given together") from exc
        credentials = channel_credentials(security, prefix="etcd")
    password = None
    if user:
        secrets = read_secret(_setting(cfg, "password_file"), cfg.password_env, "etcd.password")
        if not secrets:
            raise ConfigError("etcd.user is set but neither etcd.password_file nor password_env")
        password = secrets[0]
    return SecureEtcdClient(
        host, port, credentials, user, password, timeout=RPC_TIMEOUT_S, options=CHANNEL_OPTIONS
    )


def _refused(exc: BaseException) -> bool:
    """etcd answered, and said no to our credentials: retrying cannot help."""
    text = str(exc).lower()
    return isinstance(exc, aetcd.exceptions.UnauthenticatedError) or any(
        s in text for s in ("authentication failed", "permission denied", "user name is empty")
    )


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
            if _refused(exc):
                await client.close()
                raise ConfigError(f"etcd at {cfg.endpoint} refused the credentials: {exc}") from exc
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


async def cancel_watch(watch: object, timeout: float = 2.0) -> None:
    """Cancels an aetcd watch without hanging: its cancel waits for etcd's answer, which may
    never come while etcd is away or the stream is already broken."""
    with contextlib.suppress(*ETCD_ERRORS, TimeoutError):
        await asyncio.wait_for(watch.cancel(), timeout)  # type: ignore[attr-defined]
