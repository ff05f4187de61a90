"""`yatt ping ENDPOINT`: health, reflection-free reachability and round-trip time of a server."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer


async def _ping(endpoint: str, count: int, timeout: float) -> list[float]:
    import torch
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from yatt.codec.tensor import tensor_to_proto
    from yatt.protos import diagnostics_pb2, diagnostics_pb2_grpc
    from yatt.rpc.channel import make_channel

    async with make_channel(endpoint) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=timeout
        )
        typer.echo(
            f"{endpoint}: {health_pb2.HealthCheckResponse.ServingStatus.Name(health.status)}"
        )
        stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
        request = diagnostics_pb2.EchoRequest(tensor=tensor_to_proto(torch.arange(4.0)))
        times = []
        for _ in range(count):
            start = time.perf_counter()
            reply = await stub.Echo(request, timeout=timeout)
            times.append((time.perf_counter() - start) * 1e3)
        typer.echo(
            f"{reply.server}: {count} echoes, median {sorted(times)[len(times) // 2]:.2f} ms"
        )
        return times


def ping(
    endpoint: Annotated[str, typer.Argument(help="host:port of any yatt server.")],
    count: Annotated[int, typer.Option(help="Echo round trips to time.")] = 5,
    timeout: Annotated[float, typer.Option(help="Deadline per call, seconds.")] = 5.0,
) -> None:
    """Check that a yatt server answers, and time a few round trips."""
    import grpc

    try:
        asyncio.run(_ping(endpoint, count, timeout))
    except grpc.aio.AioRpcError as exc:
        typer.echo(f"{endpoint}: {exc.code().name}: {exc.details()}", err=True)
        raise typer.Exit(1) from None
