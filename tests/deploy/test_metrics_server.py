"""RPC metrics on a real grpc.aio server: latency per method and final status, refusals, /metrics.

A held call, one refused by admission (RESOURCE_EXHAUSTED) and one rejected as invalid each land
under their own status code, and the HTTP exporter serves them in the Prometheus text format.
"""

from __future__ import annotations

import asyncio
import urllib.request

import grpc
import pytest
import torch
from prometheus_client import REGISTRY

from yatt import metrics
from yatt.codec.tensor import tensor_to_proto
from yatt.config.common import MetricsConfig, ServerConfig
from yatt.protos import common_pb2, diagnostics_pb2, diagnostics_pb2_grpc
from yatt.rpc.channel import make_channel
from yatt.rpc.server import ServiceRuntime

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

ECHO = "/yatt.v1.DiagnosticsService/Echo"


def count(service: str, code: str) -> float:
    labels = {"service": service, "method": ECHO, "code": code}
    return REGISTRY.get_sample_value("yatt_rpc_latency_seconds_count", labels) or 0.0


async def test_latency_histogram_counts_each_final_status_and_exporter_serves_it() -> None:
    runtime = ServiceRuntime(ServerConfig(max_concurrency=1, max_queue=0), "metrics-it")
    endpoint = await runtime.start()
    exporter = metrics.start_exporter(MetricsConfig(port=0))
    assert exporter is not None
    try:
        async with make_channel(endpoint) as channel:
            stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
            ok = diagnostics_pb2.EchoRequest(tensor=tensor_to_proto(torch.ones(3)), hold_s=0.5)
            held = asyncio.ensure_future(stub.Echo(ok, timeout=10))
            await asyncio.sleep(0.2)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.Echo(ok, timeout=10)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert (await held).sum == 3.0
            bad = common_pb2.Tensor(dtype="float32", shape=[4], data=b"\0")  # 1 byte, not 16
            with pytest.raises(grpc.aio.AioRpcError) as invalid:
                await stub.Echo(diagnostics_pb2.EchoRequest(tensor=bad), timeout=10)
            assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert count("metrics-it", "OK") == 1
        assert count("metrics-it", "RESOURCE_EXHAUSTED") == 1
        assert count("metrics-it", "INVALID_ARGUMENT") == 1
        labels = {"service": "metrics-it", "method": ECHO, "code": "OK"}
        assert REGISTRY.get_sample_value("yatt_rpc_latency_seconds_sum", labels) >= 0.5
        refused_total = {"service": "metrics-it", "reason": "queue_full"}
        assert REGISTRY.get_sample_value("yatt_rpc_refused_total", refused_total) == 1

        def scrape() -> str:
            with urllib.request.urlopen(exporter.url, timeout=5) as reply:
                return reply.read().decode()

        text = await asyncio.to_thread(scrape)
        assert (
            'yatt_rpc_latency_seconds_count{code="RESOURCE_EXHAUSTED",'
            f'method="{ECHO}",service="metrics-it"}} 1.0'
        ) in text
        assert 'yatt_in_flight{service="metrics-it"} 0.0' in text
    finally:
        exporter.stop()
        await runtime.stop(0)


async def test_placement_leader_counts_its_moves(etcd_config, etcd_client) -> None:  # type: ignore[no-untyped-def]
    from yatt import keys
    from yatt.codec.meta import pack
    from yatt.placement.config import load_placement_config
    from yatt.placement.leader import PlacementNode

    job = "metrics-moves"
    cfg = load_placement_config(
        data={
            "job": job, "slots": 3, "tick_s": 0.2,
            "roles": {"rollout": {"initial": 2}, "reward": {"initial": 1}},
            "policy": {"params": {"cooldown_s": 60.0, "threshold": 0.2}},
            "estimator": {"prior_rates": {"rollout": 4.0, "reward": 1.0}},
            "etcd": etcd_config.model_dump(),
        }
    )  # fmt: skip
    node = PlacementNode(etcd_client, cfg)
    task = asyncio.create_task(node.run())
    moves = {"job": job, "from_role": "rollout", "to_role": "reward"}
    try:
        await asyncio.wait_for(node.leading.wait(), 10)
        assert REGISTRY.get_sample_value("yatt_placement_leader", {"job": job}) == 1
        for role, inst, queue in (("reward", "r0", 30), ("rollout", "a0", 0)):
            value = {"queue_depth": queue, "in_flight": 0, "busy_fraction": float(queue > 0),
                     "tokens_per_s": 0.0, "served": 0, "refused": 0}  # fmt: skip
            await etcd_client.put(keys.load(job, role, inst).encode(), pack(value))
        for _ in range(100):
            if await node.history():
                break
            await asyncio.sleep(0.05)
        assert len(await node.history()) == 1
        assert REGISTRY.get_sample_value("yatt_placement_moves_total", moves) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await node.close()
