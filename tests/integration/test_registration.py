"""A service process registers under its job and role, publishes load, and deregisters on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal

import aetcd
import pytest

from yatt import keys
from yatt.codec.meta import unpack_map
from yatt.contracts import ServiceMember
from yatt.process.handle import ProcessHandle
from yatt.process.ports import free_port
from yatt.testing.etcd import EtcdServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


async def wait_key(client: aetcd.Client, key: str, present: bool, timeout: float) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < timeout:
        if (await client.get(key.encode()) is not None) == present:
            return loop.time() - start
        await asyncio.sleep(0.05)
    raise AssertionError(f"{key} {'never appeared' if present else 'still there'} after {timeout}s")


async def test_register_publish_load_and_deregister_on_sigterm(
    etcd: EtcdServer, etcd_client: aetcd.Client
) -> None:
    port = free_port()
    server = ProcessHandle.python(
        "-m",
        "yatt.testing.diagnostics_server",
        f"server.port={port}",
        f"etcd.endpoint={etcd.endpoint}",
        "etcd.lease_ttl_s=10",
        "registration.job=j1",
        "registration.instance=d0",
        "registration.slot=3",
        "registration.load_interval_s=0.2",
    ).start()
    try:
        server.wait_for_line("serving on", timeout=30)
        member_key = keys.member("j1", "diagnostics", "d0")
        await wait_key(etcd_client, member_key, True, 5)
        info = ServiceMember.decode((await etcd_client.get(member_key.encode())).value)
        assert info.endpoint == f"127.0.0.1:{port}" and info.slot == 3
        assert (info.role, info.instance, info.pid) == ("diagnostics", "d0", server.pid)
        await asyncio.sleep(0.6)
        load = unpack_map(
            (await etcd_client.get(keys.load("j1", "diagnostics", "d0").encode())).value
        )
        assert set(load) >= {"queue_depth", "in_flight", "busy_fraction", "tokens_per_s"}
        os.kill(server.pid, signal.SIGTERM)
        # Deregistration is part of the drain: far sooner than the 10 s lease would expire.
        assert await wait_key(etcd_client, member_key, False, 5) < 5
        await wait_key(etcd_client, keys.load("j1", "diagnostics", "d0"), False, 5)
    finally:
        server.kill()


async def test_member_survives_etcd_restart_without_process_restart(
    etcd: EtcdServer, etcd_client: aetcd.Client
) -> None:
    server = ProcessHandle.python(
        "-m",
        "yatt.testing.diagnostics_server",
        f"server.port={free_port()}",
        f"etcd.endpoint={etcd.endpoint}",
        "etcd.lease_ttl_s=2",
        "registration.job=j2",
        "registration.instance=d1",
    ).start()
    try:
        server.wait_for_line("serving on", timeout=30)
        key = keys.member("j2", "diagnostics", "d1")
        await wait_key(etcd_client, key, True, 5)
        etcd.stop()
        await asyncio.sleep(3)  # longer than the TTL
        etcd.start()
        host, port_text = etcd.endpoint.split(":")
        client = aetcd.Client(host, int(port_text))
        try:
            await wait_key(client, key, True, 15)
        finally:
            await client.close()
        assert server.alive()
    finally:
        server.kill()
