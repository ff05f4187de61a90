"""Leader election against a real etcd: one leader, takeover on lease loss, crash or resign."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import aetcd
import pytest

from yatt.config.common import EtcdConfig
from yatt.coordination import LeaderElection, SessionLease, connect
from yatt.process.handle import ProcessHandle
from yatt.testing.etcd import EtcdServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TTL = 2
KEY = "/yatt/jobs/job/placement/leader"
PROC = str(Path(__file__).parent / "_procs" / "coord_proc.py")


async def candidate(
    cfg: EtcdConfig, name: str
) -> tuple[aetcd.Client, SessionLease, LeaderElection]:
    client = await connect(cfg)
    lease = SessionLease(client, TTL)
    await lease.start()
    return client, lease, LeaderElection(client, KEY, name, lease)


async def test_second_candidate_takes_over_when_leader_lease_is_revoked(
    etcd_config: EtcdConfig, etcd_client: aetcd.Client
) -> None:
    ca, lease_a, a = await candidate(etcd_config, "a")
    cb, lease_b, b = await candidate(etcd_config, "b")
    try:
        await asyncio.wait_for(a.campaign(), 5)
        waiting = asyncio.create_task(b.campaign())
        await asyncio.sleep(0.5)
        assert a.is_leader and not b.is_leader and not waiting.done()
        assert await b.leader() == "a"

        await etcd_client.revoke_lease(lease_a.require_id())
        await asyncio.wait_for(waiting, 3)
        assert b.is_leader and await a.leader() == "b"
        # a hears it lost the lease at its next refresh (ttl/3) and stops leading.
        await asyncio.wait_for(a.lost.wait(), TTL)
        assert not a.is_leader
    finally:
        for election, lease, client in ((a, lease_a, ca), (b, lease_b, cb)):
            await election.resign()
            await lease.stop()
            await client.close()


async def test_resign_hands_over_at_once(etcd_config: EtcdConfig) -> None:
    ca, lease_a, a = await candidate(etcd_config, "a")
    cb, lease_b, b = await candidate(etcd_config, "b")
    try:
        await a.campaign()
        waiting = asyncio.create_task(b.campaign())
        await asyncio.sleep(0.3)
        assert not waiting.done()
        t0 = time.monotonic()
        await a.resign()
        await asyncio.wait_for(waiting, 2)
        print(f"handover after resign: {time.monotonic() - t0:.3f}s")
        assert b.is_leader and not a.is_leader and not a.lost.is_set()
        await b.campaign()  # already leader: returns at once, still leader
        assert b.is_leader and await b.leader() == "b"
    finally:
        for election, lease, client in ((a, lease_a, ca), (b, lease_b, cb)):
            await election.resign()
            await lease.stop()
            await client.close()


async def test_leader_notices_its_key_deleted(
    etcd_config: EtcdConfig, etcd_client: aetcd.Client
) -> None:
    ca, lease_a, a = await candidate(etcd_config, "a")
    try:
        await a.campaign()
        await etcd_client.delete(KEY.encode())  # an operator forcing a new election
        await asyncio.wait_for(a.lost.wait(), 3)
        assert not a.is_leader
        await asyncio.wait_for(a.campaign(), 3)
        assert a.is_leader and not a.lost.is_set()
    finally:
        await a.resign()
        await lease_a.stop()
        await ca.close()


async def test_killed_leader_process_is_replaced_within_ttl(
    etcd: EtcdServer, etcd_config: EtcdConfig, etcd_client: aetcd.Client
) -> None:
    leader = ProcessHandle(
        [sys.executable, PROC, "candidate", "--endpoint", etcd.endpoint, "--key", KEY,
         "--instance", "proc", "--ttl", str(TTL)]
    ).start()  # fmt: skip
    cb, lease_b, b = await candidate(etcd_config, "b")
    try:
        await leader.wait_for_line_async("LEADER", timeout=30)
        waiting = asyncio.create_task(b.campaign())
        await asyncio.sleep(0.3)
        assert not waiting.done() and await b.leader() == "proc"
        leader.kill()
        t0 = time.monotonic()
        await asyncio.wait_for(waiting, TTL + 3)
        took = time.monotonic() - t0
        print(f"standby became leader {took:.2f}s after the leader's SIGKILL (ttl {TTL}s)")
        assert took <= TTL + 1.5
        assert b.is_leader and await b.leader() == "b"
    finally:
        leader.kill()
        await b.resign()
        await lease_b.stop()
        await cb.close()


async def test_leader_keeps_leadership_across_short_etcd_restart(
    etcd: EtcdServer, etcd_config: EtcdConfig
) -> None:
    ca, lease_a, a = await candidate(etcd_config, "a")
    cb, lease_b, b = await candidate(etcd_config, "b")
    try:
        await a.campaign()
        waiting = asyncio.create_task(b.campaign())
        await asyncio.to_thread(etcd.restart, False, 0.3)
        await asyncio.sleep(2 * TTL)  # a's lease would have expired had keepalive not resumed
        assert a.is_leader and not a.lost.is_set()
        assert not waiting.done() and await b.leader() == "a"
        await a.resign()
        await asyncio.wait_for(waiting, 3)
        assert b.is_leader
    finally:
        for election, lease, client in ((a, lease_a, ca), (b, lease_b, cb)):
            await election.resign()
            await lease.stop()
            await client.close()
