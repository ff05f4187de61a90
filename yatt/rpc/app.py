"""Runs a service process: start the runtime (and its /metrics endpoint), register in etcd,
publish load, drain on SIGTERM.

Every `yatt serve ROLE` ends up here, so start-up, registration and shutdown
behave the same in every service.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from yatt import keys, metrics
from yatt.codec.meta import pack
from yatt.config.common import EtcdConfig, RegistrationConfig
from yatt.contracts import ServiceMember
from yatt.rpc.server import ServiceRuntime, wait_for_signal

log = logging.getLogger(__name__)


def instance_name(reg: RegistrationConfig, role: str) -> str:
    return reg.instance or f"{role}-{socket.gethostname()}-{os.getpid()}"


class Registration:
    """A service's membership and load keys in etcd, both bound to one lease."""

    def __init__(
        self,
        runtime: ServiceRuntime,
        role: str,
        etcd: EtcdConfig,
        reg: RegistrationConfig,
        member_info: Callable[[], ServiceMember],
    ) -> None:
        self.runtime, self.role, self.etcd_cfg, self.reg = runtime, role, etcd, reg
        self.member_info = member_info
        self.instance = instance_name(reg, role)
        self._client: Any = None
        self._lease: Any = None
        self._last_load: dict[str, float] = {}
        self._member: Any = None
        self._load: Any = None
        self._publisher: asyncio.Task[None] | None = None

    def _member_value(self) -> bytes:
        record = replace(
            self.member_info(),
            endpoint=self.runtime.endpoint or "",
            role=self.role,
            instance=self.instance,
            slot=self.reg.slot,
            pid=os.getpid(),
            load=self._last_load,
        )
        return record.encode()

    def _load_value(self) -> bytes:
        return pack(self._last_load)

    async def start(self) -> None:
        from yatt.coordination.client import connect
        from yatt.coordination.lease import SessionLease
        from yatt.coordination.membership import Membership

        job = self.reg.job
        assert job is not None
        self._client = await connect(self.etcd_cfg)
        # One lease for both keys: they vanish together when this process dies.
        self._lease = SessionLease(self._client, self.etcd_cfg.lease_ttl_s)
        await self._lease.start()
        self._member = Membership(
            self._client,
            keys.member(job, self.role, self.instance),
            self._member_value,
            lease=self._lease,
        )
        self._load = Membership(
            self._client,
            keys.load(job, self.role, self.instance),
            self._load_value,
            lease=self._lease,
        )
        await self._member.start()
        await self._load.start()
        self._publisher = asyncio.create_task(self._publish_load())
        log.info("registered %s/%s as %s", job, self.role, self.instance)

    async def _publish_load(self) -> None:
        while True:
            await asyncio.sleep(self.reg.load_interval_s)
            self._last_load = self.runtime.load.snapshot().as_dict()
            try:
                await self._load.update(self._load_value())
                await self._member.update(self._member_value())
            except Exception as exc:  # etcd away: Membership re-registers by itself
                log.debug("load publish failed: %s", exc)

    async def refresh(self) -> None:
        """Re-publishes the member value now (e.g. after a weight version change)."""
        if self._member is not None:
            await self._member.update(self._member_value())

    async def stop(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
        for membership in (self._member, self._load):
            if membership is not None:
                await membership.stop()
        if self._lease is not None:
            await self._lease.stop(revoke=True)
        if self._client is not None:
            await self._client.close()
        self._client = self._lease = self._member = self._load = None


async def serve(
    runtime: ServiceRuntime,
    role: str,
    etcd: EtcdConfig,
    reg: RegistrationConfig,
    member_info: Callable[[], ServiceMember] = ServiceMember,
    on_ready: Callable[[Registration | None], Any] | None = None,
) -> None:
    """Serves until SIGTERM/SIGINT, then drains: deregister, finish in-flight, stop."""
    endpoint = await runtime.start()
    exporter = metrics.start_exporter(runtime.cfg.metrics, runtime.cfg.advertise_host)
    metrics.bind_member_info(runtime.name, member_info)
    info = member_info
    if exporter is not None:
        print(f"yatt {role} metrics on {exporter.url}", flush=True)
        endpoint = exporter.endpoint
        info = lambda: replace(member_info(), metrics_endpoint=endpoint)  # noqa: E731
    registration = None
    if reg.job:
        registration = Registration(runtime, role, etcd, reg, info)
        await registration.start()
        runtime.on_drain(registration.stop)
    if on_ready is not None:
        result = on_ready(registration)
        if asyncio.iscoroutine(result):
            await result
    # Tests and launchers wait for this exact line.
    print(f"yatt {role} serving on {endpoint}", flush=True)
    sig = await wait_for_signal()
    log.info("%s: signal %d, draining", role, sig)
    await runtime.stop()
    if exporter is not None:
        exporter.stop()
    log.info("%s: stopped", role)
