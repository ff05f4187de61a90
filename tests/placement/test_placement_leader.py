"""The placement leader against a real etcd: starting map, moves with history, fencing, gRPC.

Load records are written the way services publish them (keys.load, msgpack), so the leader's
reading, deciding and writing run for real without starting model services.
"""

from __future__ import annotations

import asyncio

import aetcd
import pytest

from yatt import keys
from yatt.codec.meta import pack
from yatt.config.common import EtcdConfig, ServerConfig
from yatt.errors import InvalidArgument
from yatt.placement.client import PlacementClient
from yatt.placement.config import load_placement_config
from yatt.placement.leader import PlacementNode
from yatt.placement.server import PlacementServicer
from yatt.placement.store import encode_assignment, read_assignments
from yatt.protos import placement_pb2_grpc
from yatt.rpc.server import ServiceRuntime

pytestmark = pytest.mark.integration

JOB = "pl"


def config(etcd: EtcdConfig, **policy: float):
    return load_placement_config(
        data={
            "job": JOB,
            "slots": 4,
            "tick_s": 0.2,
            "roles": {"rollout": {"initial": 3}, "reward": {"initial": 1}},
            "policy": {"params": {"cooldown_s": 3.0, "threshold": 0.2, **policy}},
            "estimator": {"prior_rates": {"rollout": 4.0, "reward": 1.0}},
            "etcd": etcd.model_dump(),
        }
    )


async def publish_load(client: aetcd.Client, role: str, inst: str, queue: int) -> None:
    value = {"queue_depth": queue, "in_flight": 0, "busy_fraction": 1.0 if queue else 0.0,
             "tokens_per_s": 0.0, "served": 0, "refused": 0}  # fmt: skip
    await client.put(keys.load(JOB, role, inst).encode(), pack(value))


async def wait_for(predicate, timeout: float = 10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


async def test_leader_writes_start_map_moves_and_history(
    etcd_config: EtcdConfig, etcd_client: aetcd.Client
) -> None:
    node = PlacementNode(etcd_client, config(etcd_config))
    task = asyncio.create_task(node.run())
    try:
        await asyncio.wait_for(node.leading.wait(), 10)
        assert await read_assignments(etcd_client, JOB) == {
            0: "rollout", 1: "rollout", 2: "rollout", 3: "reward",
        }  # fmt: skip
        await publish_load(etcd_client, "reward", "r0", queue=30)
        await publish_load(etcd_client, "rollout", "a0", queue=0)
        history = await wait_for(lambda: node.history())
        [move] = history
        assert (move.slot, move.from_role, move.to_role) == (2, "rollout", "reward")
        assert move.queue_depths["reward"] == 30 and "expected wait" in move.reason
        assert (await read_assignments(etcd_client, JOB))[2] == "reward"
        # The cool-down holds the next move back although reward still queues.
        await asyncio.sleep(1.0)
        assert len(await node.history()) == 1
        await wait_for(lambda: _len_at_least(node, 2), timeout=6)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await node.close()


async def _ticked(node: PlacementNode) -> bool:
    return node.ticks > 0


async def _len_at_least(node: PlacementNode, n: int) -> bool:
    return len(await node.history()) >= n


async def test_only_the_leader_writes_and_a_stale_plan_is_refused(
    etcd_config: EtcdConfig, etcd_client: aetcd.Client
) -> None:
    first = PlacementNode(etcd_client, config(etcd_config, cooldown_s=0.0), "first")
    second = PlacementNode(etcd_client, config(etcd_config, cooldown_s=0.0), "second")
    tasks = [asyncio.create_task(first.run())]
    try:
        await asyncio.wait_for(first.leading.wait(), 10)
        tasks.append(asyncio.create_task(second.run()))
        await asyncio.sleep(0.5)
        assert not second.is_leader
        with pytest.raises(Exception, match="not the placement leader; the leader is first"):
            await second.plan(dry_run=True)
        # Someone rewrites slot 2 behind the leader's back: its move from the old role fails.
        await etcd_client.put(keys.assign(JOB, 2).encode(), encode_assignment("reward", "op"))
        await publish_load(etcd_client, "reward", "r0", queue=30)
        await asyncio.sleep(0.6)
        history = await first.history()
        assert all(m.slot != 2 for m in history)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await first.close()
        await second.close()


async def test_grpc_status_plan_and_set_policy(
    etcd_config: EtcdConfig, etcd_client: aetcd.Client
) -> None:
    cfg = config(etcd_config)
    cfg.tick_s = 60.0  # only Plan moves anything in this test
    node = PlacementNode(etcd_client, cfg, "solo")
    task = asyncio.create_task(node.run())
    runtime = ServiceRuntime(ServerConfig(), "placement")
    runtime.add(
        placement_pb2_grpc.add_PlacementServiceServicer_to_server,
        PlacementServicer(node),
        "yatt.v1.PlacementService",
    )
    endpoint = await runtime.start()
    try:
        await asyncio.wait_for(node.leading.wait(), 10)
        await wait_for(lambda: _ticked(node))  # the leader's first own tick is done
        await publish_load(etcd_client, "reward", "r0", queue=30)
        async with PlacementClient.connect(endpoint) as placement:
            status = await placement.status()
            assert status.leader == "solo" and status.policy == "queue_balance"
            assert list(status.assignments.values()) == ["rollout"] * 3 + ["reward"]
            moves, assignments = await placement.plan(dry_run=True)
            assert [(m.from_role, m.to_role) for m in moves] == [("rollout", "reward")]
            assert list(assignments.values()).count("reward") == 1  # nothing applied
            _, assignments = await placement.plan()
            assert list(assignments.values()).count("reward") == 2
            with pytest.raises(InvalidArgument, match="threshold"):
                await placement.set_policy("queue_balance", {"threshold": -1})
            assert await placement.set_policy("static") == "static"
            status = await placement.status()
            assert status.policy == "static" and len(status.history) == 1
    finally:
        await runtime.stop(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await node.close()
