"""Shared fixtures: a real etcd server per test and a connected client to it.

Tests run on 2 busy CPU cores, so math libraries are held to one thread each.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

from collections.abc import AsyncIterator, Iterator  # noqa: E402

import aetcd  # noqa: E402
import pytest  # noqa: E402

from yatt.config.common import EtcdConfig  # noqa: E402
from yatt.coordination.client import connect  # noqa: E402
from yatt.testing.etcd import EtcdServer  # noqa: E402


@pytest.fixture
def etcd() -> Iterator[EtcdServer]:
    """A fresh single-node etcd (starts in well under a second), stopped by PID afterwards."""
    server = EtcdServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def etcd_config(etcd: EtcdServer) -> EtcdConfig:
    return EtcdConfig(endpoint=etcd.endpoint, lease_ttl_s=2)


@pytest.fixture
async def etcd_client(etcd_config: EtcdConfig) -> AsyncIterator[aetcd.Client]:
    client = await connect(etcd_config)
    try:
        yield client
    finally:
        await client.close()
