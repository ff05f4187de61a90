"""The shared gRPC runtime against real servers on loopback: health, drain, limits, deadlines."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import grpc
import pytest
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc

from yatt.codec.tensor import tensor_to_proto
from yatt.config.common import ServerConfig
from yatt.process.handle import ProcessHandle
from yatt.process.ports import free_port
from yatt.protos import diagnostics_pb2, diagnostics_pb2_grpc
from yatt.rpc.channel import make_channel
from yatt.rpc.server import ServiceRuntime

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def echo(hold_s: float = 0.0, tensor: torch.Tensor | None = None) -> diagnostics_pb2.EchoRequest:
    tensor = torch.arange(4.0) if tensor is None else tensor
    return diagnostics_pb2.EchoRequest(tensor=tensor_to_proto(tensor), hold_s=hold_s)


@pytest.fixture
async def runtime() -> AsyncIterator[ServiceRuntime]:
    rt = ServiceRuntime(
        ServerConfig(max_concurrency=2, max_queue=3, max_message_bytes=1 << 20, grace_s=5),
        "test",
    )
    await rt.start()
    yield rt
    await rt.stop(0)


async def health_status(channel: grpc.aio.Channel) -> int:
    reply = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(), timeout=2
    )
    return reply.status


async def test_health_serving_then_not_serving_while_draining(runtime: ServiceRuntime) -> None:
    async with make_channel(runtime.endpoint) as channel:
        stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
        assert await health_status(channel) == SERVING
        held = asyncio.ensure_future(stub.Echo(echo(hold_s=1.0), timeout=10))
        await asyncio.sleep(0.2)
        drain = asyncio.ensure_future(runtime.drain())
        await asyncio.sleep(0.2)
        assert await health_status(channel) == NOT_SERVING
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Echo(echo(), timeout=2, wait_for_ready=False)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "draining" in refused.value.details()
        reply = await held  # in-flight work finishes during the drain
        assert reply.sum == 6.0
        await drain
        assert runtime.load.in_flight == 0


async def test_health_list_names_every_service_with_its_status(runtime: ServiceRuntime) -> None:
    async with make_channel(runtime.endpoint) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        listed = await stub.List(health_pb2.HealthListRequest(), timeout=2)
        assert {s: r.status for s, r in listed.statuses.items()} == {
            "": SERVING,
            "yatt.v1.DiagnosticsService": SERVING,
        }
        await runtime.drain(0)
        listed = await stub.List(health_pb2.HealthListRequest(), timeout=2)
        assert {r.status for r in listed.statuses.values()} == {NOT_SERVING}


async def test_server_limit_ends_a_call_without_a_client_deadline() -> None:
    """max_call_s bounds every RPC (and frees its admission slot), whatever the client asked."""
    rt = ServiceRuntime(ServerConfig(max_concurrency=1, max_call_s=0.5), "limited")
    await rt.start()
    try:
        async with make_channel(rt.endpoint) as channel:
            stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.Echo(echo(hold_s=5))  # no client deadline at all
            assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "server.max_call_s" in err.value.details()
            assert (await stub.Echo(echo(), timeout=5)).sum == 6.0  # the slot is free again
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.Echo(echo(hold_s=1e9), timeout=5)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await rt.stop(0)


async def test_oversized_message_then_next_call_served(runtime: ServiceRuntime) -> None:
    async with make_channel(runtime.endpoint, max_message_bytes=8 << 20) as channel:
        stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Echo(echo(tensor=torch.zeros(512 * 1024)), timeout=5)  # 2 MiB > 1 MiB
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (await stub.Echo(echo(), timeout=5)).sum == 6.0


async def test_malformed_tensor_is_invalid_argument_then_next_call_served(
    runtime: ServiceRuntime,
) -> None:
    async with make_channel(runtime.endpoint) as channel:
        stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
        bad = echo()
        bad.tensor.shape[:] = [5]
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Echo(bad, timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "do not match dtype float32 and shape [5]" in err.value.details()
        bad.tensor.dtype = "complex64"
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Echo(bad, timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (await stub.Echo(echo(), timeout=5)).sum == 6.0


async def test_full_queue_answers_resource_exhausted(runtime: ServiceRuntime) -> None:
    gate = runtime.load
    capacity = gate.max_concurrency + gate.max_queue
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, gate.waiting + gate.in_flight)
            await asyncio.sleep(0.01)

    watcher = asyncio.ensure_future(watch())
    async with make_channel(runtime.endpoint) as channel:
        stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
        calls = [stub.Echo(echo(hold_s=0.5), timeout=10) for _ in range(40)]
        results = await asyncio.gather(*calls, return_exceptions=True)
    watcher.cancel()
    ok = [r for r in results if isinstance(r, diagnostics_pb2.EchoReply)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(ok) == capacity
    assert len(refused) == 40 - capacity
    assert {r.code() for r in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert "queue full" in refused[0].details()
    assert peak <= capacity  # the queue never grew past its bound
    assert gate.refused == 40 - capacity


async def test_deadline_is_honoured_and_frees_the_slot(runtime: ServiceRuntime) -> None:
    async with make_channel(runtime.endpoint) as channel:
        stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Echo(echo(hold_s=5), timeout=0.3)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        for _ in range(50):
            if runtime.load.in_flight == 0:
                break
            await asyncio.sleep(0.02)
        assert runtime.load.in_flight == 0
        assert (await stub.Echo(echo(), timeout=5)).sum == 6.0


async def test_channel_retries_unavailable_until_server_starts() -> None:
    port = free_port()
    rt = ServiceRuntime(ServerConfig(port=port), "late")
    async with make_channel(f"127.0.0.1:{port}") as channel:
        stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
        call = asyncio.ensure_future(stub.Echo(echo(), timeout=10))
        await asyncio.sleep(0.4)
        assert not call.done()
        await rt.start()
        try:
            assert (await call).sum == 6.0
        finally:
            await rt.stop(0)


async def test_sigterm_drains_a_server_process() -> None:
    port = free_port()
    server = ProcessHandle.python(
        "-m", "yatt.testing.diagnostics_server", f"server.port={port}", "server.grace_s=10"
    ).start()
    try:
        server.wait_for_line(f"serving on 127.0.0.1:{port}", timeout=30)
        async with make_channel(f"127.0.0.1:{port}") as channel:
            stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
            held = asyncio.ensure_future(stub.Echo(echo(hold_s=1.5), timeout=10))
            await asyncio.sleep(0.3)
            os.kill(server.pid, signal.SIGTERM)
            await asyncio.sleep(0.3)
            assert await health_status(channel) == NOT_SERVING
            assert (await held).sum == 6.0
        for _ in range(100):
            if not server.alive():
                break
            await asyncio.sleep(0.1)
        assert server.returncode == 0, server.output()
    finally:
        server.kill()
