"""The client side of the error edge against a real server: each status a yatt server answers
arrives as its domain error, details kept (the typed clients wrap every call the same way)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import torch

from yatt.codec.tensor import tensor_to_proto
from yatt.config.common import ServerConfig
from yatt.errors import DeadlineExceeded, InvalidArgument, ResourceExhausted, Unavailable
from yatt.process.ports import free_port
from yatt.protos import diagnostics_pb2, diagnostics_pb2_grpc
from yatt.rpc.channel import make_channel
from yatt.rpc.errors import domain_errors
from yatt.rpc.server import ServiceRuntime

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def echo(hold_s: float = 0.0) -> diagnostics_pb2.EchoRequest:
    return diagnostics_pb2.EchoRequest(tensor=tensor_to_proto(torch.arange(4.0)), hold_s=hold_s)


@pytest.fixture
async def runtime() -> AsyncIterator[ServiceRuntime]:
    rt = ServiceRuntime(ServerConfig(max_concurrency=1, max_queue=0, grace_s=5), "errors")
    await rt.start()
    yield rt
    await rt.stop(0)


async def test_each_status_becomes_its_domain_error(runtime: ServiceRuntime) -> None:
    async with make_channel(runtime.endpoint) as channel:
        stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
        bad = echo()
        bad.tensor.shape[:] = [5]
        with pytest.raises(InvalidArgument, match="do not match dtype float32"), domain_errors():
            await stub.Echo(bad, timeout=5)

        with pytest.raises(DeadlineExceeded), domain_errors():
            await stub.Echo(echo(hold_s=5), timeout=0.3)
        await asyncio.sleep(0.1)  # the timed-out call frees its slot

        held = asyncio.ensure_future(stub.Echo(echo(hold_s=0.5), timeout=10))
        await asyncio.sleep(0.2)
        with pytest.raises(ResourceExhausted, match="queue full"), domain_errors():
            await stub.Echo(echo(), timeout=5)
        await held

        drain = asyncio.ensure_future(runtime.drain())
        await asyncio.sleep(0.2)
        with pytest.raises(Unavailable, match="draining"), domain_errors():
            await stub.Echo(echo(), timeout=2, wait_for_ready=False)
        await drain


async def test_no_server_is_unavailable() -> None:
    async with make_channel(f"127.0.0.1:{free_port()}") as channel:
        stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
        with pytest.raises(Unavailable), domain_errors():
            await stub.Echo(echo(), timeout=5)
