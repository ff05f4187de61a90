"""A manifest naming an unreachable NCCL rendezvous fails fast and holds nothing.

Before: the rollout connected to the handle's TCPStore with a 120 s timeout on a shared worker
thread; a dozen such calls exhausted the pool, `Health/List` hung, and SIGTERM waited for them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from transport_helpers import endpoint_of, rollout_process

from yatt.errors import Unavailable
from yatt.process.ports import free_port
from yatt.protos import common_pb2, rollout_pb2_grpc
from yatt.rpc.channel import make_channel
from yatt.transport.nccl import connect_store

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_unreachable_store_is_unavailable_within_the_connect_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(Unavailable, match="unreachable"):
        connect_store("127.0.0.1", free_port())
    assert time.monotonic() - started < 30  # bounded: was 120 s


def nccl_manifest(port: int, version: int) -> common_pb2.WeightManifest:
    return common_pb2.WeightManifest(
        version=version,
        transport="nccl",
        handle=f"127.0.0.1:{port}/yatt-weights/x",
        total_bytes=16,
        entries=[common_pb2.WeightEntry(name="w", dtype="float32", shape=[4], nbytes=16)],
    )


async def test_rollout_refuses_nccl_manifests_at_once_and_stops_within_grace(
    tiny_model: Path, tmp_path: Path
) -> None:
    proc = rollout_process(tiny_model, tmp_path / "rollout.yaml", server={"grace_s": 5})
    try:
        endpoint = endpoint_of(proc)
        async with make_channel(endpoint) as channel:
            stub = rollout_pb2_grpc.RolloutServiceStub(channel)
            calls = [
                stub.LoadWeightsFromManifest(nccl_manifest(free_port(), v), timeout=10)
                for v in range(1, 16)
            ]
            results = await asyncio.gather(*calls, return_exceptions=True)
            codes = {r.code() for r in results if isinstance(r, grpc.aio.AioRpcError)}
            assert len(codes) == 1 and codes <= {
                grpc.StatusCode.INVALID_ARGUMENT,  # this host has no CUDA: nccl is not offered
                grpc.StatusCode.UNAVAILABLE,  # a GPU host: the rendezvous is unreachable
            }, results
            listed = await health_pb2_grpc.HealthStub(channel).List(
                health_pb2.HealthListRequest(), timeout=2
            )
            assert listed.statuses["yatt.v1.RolloutService"].status == 1  # SERVING
        os.kill(proc.pid, signal.SIGTERM)
        started = time.monotonic()
        while proc.alive() and time.monotonic() - started < 15:
            await asyncio.sleep(0.1)
        assert not proc.alive(), "rollout did not exit within 15 s of SIGTERM"
    finally:
        proc.stop()
