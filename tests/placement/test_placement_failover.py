"""Two real placement processes: SIGKILL the leader, the standby takes over, the map stays."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aetcd
import pytest
import yaml

from yatt import keys
from yatt.codec.meta import pack
from yatt.config.common import EtcdConfig
from yatt.placement.history import read_history
from yatt.placement.store import read_assignments
from yatt.process.handle import ProcessHandle

pytestmark = pytest.mark.integration

JOB = "failover"


def write_config(tmp_path: Path, etcd: EtcdConfig) -> Path:
    path = tmp_path / "placement.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "job": JOB,
                "slots": 4,
                "tick_s": 0.2,
                "roles": {"rollout": {"initial": 3}, "reward": {"initial": 1}},
                # A long cool-down: after the first move, no leader may move again in this test.
                "policy": {"params": {"cooldown_s": 600, "threshold": 0.2}},
                "estimator": {"prior_rates": {"rollout": 4.0, "reward": 1.0}},
                "etcd": {"endpoint": etcd.endpoint, "lease_ttl_s": 2},
            }
        )
    )
    return path


def placement(config: Path, name: str) -> ProcessHandle:
    return ProcessHandle.python("-m", "yatt.placement", "run", "--config", str(config), name=name)


async def test_standby_takes_over_and_assignments_stay(
    tmp_path: Path, etcd_config: EtcdConfig, etcd_client: aetcd.Client
) -> None:
    config = write_config(tmp_path, etcd_config)
    first, second = placement(config, "first"), placement(config, "second")
    try:
        first.start()
        await first.wait_for_line_async("yatt placement leading job", timeout=60)
        second.start()
        await second.wait_for_line_async("yatt placement serving on", timeout=60)
        # Reward queues: the leader moves one slot to it and records the move.
        load = {"queue_depth": 40, "in_flight": 0, "busy_fraction": 1.0, "served": 0}
        await etcd_client.put(keys.load(JOB, "reward", "r0").encode(), pack(load))
        deadline = time.monotonic() + 20
        while not await read_history(etcd_client, JOB):
            assert time.monotonic() < deadline, first.output()
            await asyncio.sleep(0.1)
        before = await read_assignments(etcd_client, JOB)
        history = await read_history(etcd_client, JOB)
        assert sorted(before.values()).count("reward") == 2 and len(history) == 1
        leader_kv = await etcd_client.get(keys.placement_leader(JOB).encode())
        assert f"-{first.pid}-" in leader_kv.value.decode()

        killed_at = time.monotonic()
        first.kill()
        await second.wait_for_line_async("yatt placement leading job", timeout=30)
        takeover_s = time.monotonic() - killed_at
        leader_kv = await etcd_client.get(keys.placement_leader(JOB).encode())
        assert f"-{second.pid}-" in leader_kv.value.decode()
        # The new leader keeps the map and the history, and honours the cool-down it inherited.
        await asyncio.sleep(1.0)
        assert await read_assignments(etcd_client, JOB) == before
        assert await read_history(etcd_client, JOB) == history
        assert takeover_s < 10, f"takeover took {takeover_s:.1f}s"
    finally:
        first.stop()
        second.stop()
    assert not first.alive() and not second.alive()
