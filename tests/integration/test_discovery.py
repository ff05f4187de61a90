"""RoleDirectory against a real etcd: members appear, change and disappear (incl. a crash),
and the directory follows again after etcd restarts.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aetcd
import pytest

from yatt import keys
from yatt.codec.meta import pack
from yatt.contracts import RewardMember
from yatt.coordination import Membership, RoleDirectory
from yatt.process.handle import ProcessHandle
from yatt.testing.etcd import EtcdServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

JOB, ROLE, TTL = "job", "reward", 2
PROC = str(Path(__file__).parent / "_procs" / "coord_proc.py")


def member(client: aetcd.Client, instance: str, **info: object) -> Membership:
    record = RewardMember(instance=instance, **info)  # type: ignore[arg-type]
    return Membership(client, keys.member(JOB, ROLE, instance), record.encode(), TTL)


async def test_member_appears_changes_and_disappears(etcd_client: aetcd.Client) -> None:
    early = member(etcd_client, "r0", endpoint="127.0.0.1:1")
    await early.start(timeout=10)
    # Another role and another job under similar prefixes must not leak in.
    await etcd_client.put(keys.member(JOB, "rewardx", "x").encode(), pack({}))
    await etcd_client.put(keys.member("job2", ROLE, "y").encode(), pack({}))
    seen: list[set[str]] = []
    async with RoleDirectory(etcd_client, JOB, ROLE) as directory:
        directory.on_change(lambda m: seen.append(set(m)))
        assert directory.members() == {"r0": RewardMember(instance="r0", endpoint="127.0.0.1:1")}

        late = member(etcd_client, "r1", endpoint="127.0.0.1:2")
        await late.start(timeout=10)
        got = await directory.wait_for(2, timeout=5)
        assert got["r1"] == RewardMember(instance="r1", endpoint="127.0.0.1:2")

        await late.update(RewardMember(endpoint="127.0.0.1:2", functions=["exact"]).encode())
        await directory.wait_until(
            lambda m: (
                "r1" in m and isinstance(m["r1"], RewardMember) and m["r1"].functions == ["exact"]
            ),
            timeout=5,
        )

        await early.stop()
        assert set(await directory.wait_until(lambda m: "r0" not in m, timeout=5)) == {"r1"}
        await late.stop()
        await directory.wait_until(lambda m: not m, timeout=5)
    assert seen[-1] == set() and {"r0", "r1"} in seen


async def test_crashed_member_disappears_after_ttl(
    etcd: EtcdServer, etcd_client: aetcd.Client
) -> None:
    holder = ProcessHandle(
        [sys.executable, PROC, "holder", "--endpoint", etcd.endpoint, "--job", JOB,
         "--role", ROLE, "--instance", "h", "--ttl", str(TTL)]
    ).start()  # fmt: skip
    try:
        async with RoleDirectory(etcd_client, JOB, ROLE) as directory:
            await holder.wait_for_line_async("READY", timeout=30)
            await directory.wait_for(1, timeout=5)
            holder.kill()
            await directory.wait_until(lambda m: not m, timeout=TTL + 3)
    finally:
        holder.kill()


async def test_follows_again_after_etcd_restart(
    etcd: EtcdServer, etcd_client: aetcd.Client
) -> None:
    async with RoleDirectory(etcd_client, JOB, ROLE) as directory:
        changes = directory.changes()
        assert await anext(changes) == {}
        await asyncio.to_thread(etcd.restart, False, 0.5)
        # Written right after the restart: caught by the re-list or the new watch.
        late = member(etcd_client, "r9", pid=9)
        await late.start(timeout=10)
        assert (await directory.wait_for(1, timeout=10))["r9"].pid == 9
        assert await asyncio.wait_for(anext(changes), 5) == {
            "r9": RewardMember(instance="r9", pid=9)
        }
        await late.stop()
        await directory.wait_until(lambda m: not m, timeout=5)


async def test_wait_for_times_out_naming_members(etcd_client: aetcd.Client) -> None:
    async with RoleDirectory(etcd_client, JOB, ROLE) as directory:
        with pytest.raises(TimeoutError, match="not met"):
            await directory.wait_for(1, timeout=0.3)


async def test_malformed_registration_is_ignored(etcd_client: aetcd.Client) -> None:
    await etcd_client.put(keys.member(JOB, ROLE, "bad").encode(), b"\xc1garbage")
    await etcd_client.put(keys.member(JOB, ROLE, "typed").encode(), pack({"pid": "seven"}))
    # An unknown key is a newer writer's field: ignored, the rest is read.
    await etcd_client.put(keys.member(JOB, ROLE, "good").encode(), pack({"ok": True, "pid": 7}))
    async with RoleDirectory(etcd_client, JOB, ROLE) as directory:
        assert directory.members() == {"good": RewardMember(pid=7)}
