"""ServiceRuntime: the one way a yatt process runs a grpc.aio server.

It adds health checking, reflection and diagnostics, explicit message size limits, the
bounded admission queue, the exception -> status mapping, a graceful drain, and (per
cfg.tls / cfg.auth) TLS, mutual TLS and the bearer-token check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from yatt.config.common import ServerConfig
from yatt.protos import diagnostics_pb2_grpc
from yatt.rpc.admission import AdmissionGate
from yatt.rpc.diagnostics import DiagnosticsServicer
from yatt.rpc.health import HealthServicer
from yatt.rpc.interceptor import AdmissionInterceptor
from yatt.security.auth import TokenAuthInterceptor
from yatt.security.credentials import is_loopback, server_credentials, server_tokens

log = logging.getLogger(__name__)

DIAGNOSTICS = "yatt.v1.DiagnosticsService"


def message_size_options(max_bytes: int) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", max_bytes),
        ("grpc.max_send_message_length", max_bytes),
    ]


class ServiceRuntime:
    """Owns one grpc.aio server: add servicers, start, drain and stop."""

    def __init__(self, cfg: ServerConfig, name: str) -> None:
        self.cfg = cfg
        self.name = name
        self.load = AdmissionGate(cfg.max_concurrency, cfg.max_queue, name=name)
        self.health = HealthServicer()
        # Credentials are read now so a bad path fails before anything binds.
        self._credentials = server_credentials(cfg.tls) if cfg.tls.enabled else None
        tokens = server_tokens(cfg.auth)
        if tokens and not cfg.tls.enabled and not is_loopback(cfg.host):
            log.warning("%s: bearer tokens over plaintext on %s can be sniffed", name, cfg.host)
        # The token check runs first: an unauthenticated call never takes an admission slot.
        interceptors: list[grpc.aio.ServerInterceptor] = []
        if tokens:
            interceptors.append(TokenAuthInterceptor(tokens))
        interceptors.append(AdmissionInterceptor(self.load, cfg.max_call_s))
        self._server = grpc.aio.server(
            interceptors=interceptors,
            options=message_size_options(cfg.max_message_bytes)
            + [("grpc.so_reuseport", 0), ("grpc.keepalive_permit_without_calls", 1)],
        )
        self._services: list[str] = []
        self._drain_hooks: list[Callable[[], Awaitable[None]]] = []
        self.endpoint: str | None = None
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        self.add(
            diagnostics_pb2_grpc.add_DiagnosticsServiceServicer_to_server,
            DiagnosticsServicer(name),
            DIAGNOSTICS,
        )

    def add(
        self, add_fn: Callable[[Any, grpc.aio.Server], None], servicer: Any, service: str
    ) -> None:
        """Registers a servicer; service is its full name, e.g. "yatt.v1.RolloutService"."""
        add_fn(servicer, self._server)
        self._services.append(service)

    def on_drain(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Runs hook (e.g. deregistration from etcd) when draining begins."""
        self._drain_hooks.append(hook)

    async def start(self) -> str:
        """Binds, starts serving and marks every service SERVING; returns "host:port"."""
        names = [*self._services, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
        reflection.enable_server_reflection([*names, reflection.SERVICE_NAME], self._server)
        address = f"{self.cfg.host}:{self.cfg.port}"
        if self._credentials is not None:
            port = self._server.add_secure_port(address, self._credentials)
        else:
            port = self._server.add_insecure_port(address)
        if port == 0:
            raise OSError(f"cannot bind {self.cfg.host}:{self.cfg.port} (server.port)")
        await self._server.start()
        for service in ["", *self._services]:
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        host = self.cfg.advertise_host or self.cfg.host
        self.endpoint = f"{host}:{port}"
        log.info("%s serving on %s", self.name, self.endpoint)
        return self.endpoint

    async def drain(self, grace: float | None = None) -> None:
        """Stops taking work (health NOT_SERVING, new RPCs UNAVAILABLE), lets in-flight finish."""
        if self.load.draining:
            return
        self.load.draining = True
        for service in ["", *self._services]:
            await self.health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        for hook in self._drain_hooks:
            try:
                await hook()
            except Exception:
                log.exception("drain hook failed")
        grace = self.cfg.grace_s if grace is None else grace
        if not await self.load.wait_idle(grace):
            log.warning(
                "%s: %d RPCs still running after %.1fs grace", self.name, self.load.in_flight, grace
            )

    async def stop(self, grace: float | None = None) -> None:
        """Drains, then stops the server (cancelling whatever outlived the grace period)."""
        await self.drain(grace)
        await self._server.stop(0)

    async def wait_for_termination(self) -> None:
        await self._server.wait_for_termination()


async def wait_for_signal(*signals: int) -> int:
    """Returns the first of signals received (default SIGTERM, SIGINT)."""
    import signal

    loop = asyncio.get_running_loop()
    received: asyncio.Future[int] = loop.create_future()
    sigs = signals or (signal.SIGTERM, signal.SIGINT)

    def deliver(sig: int) -> None:
        if not received.done():
            received.set_result(sig)

    for sig in sigs:
        loop.add_signal_handler(sig, deliver, sig)
    try:
        return await received
    finally:
        for sig in sigs:
            loop.remove_signal_handler(sig)
