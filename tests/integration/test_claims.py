"""Shard claims against a real etcd: exactly one winner, takeover after a crash, stale owners.

Crashes are real: a child process holding a claim is killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import aetcd
import pytest

from yatt import keys
from yatt.config.common import EtcdConfig
from yatt.coordination import SessionLease, ShardClaims, connect
from yatt.coordination.claims import (
    ShardState,
    claim_owner,
    decode_shard,
    encode_shard,
    epoch_progress,
    publish_shards,
)
from yatt.process.handle import ProcessHandle
from yatt.testing.etcd import EtcdServer, wait_for_key

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

JOB = "job"
TTL = 2
PROC = str(Path(__file__).parent / "_procs" / "coord_proc.py")


def proc(mode: str, etcd: EtcdServer, *args: str) -> ProcessHandle:
    return ProcessHandle([sys.executable, PROC, mode, "--endpoint", etcd.endpoint, *args])


async def test_killed_holder_loses_membership_and_claim_within_ttl(
    etcd: EtcdServer, etcd_client: aetcd.Client
) -> None:
    await publish_shards(etcd_client, JOB, 0, [{"rows": [0, 8]}])
    holder = proc("holder", etcd, "--instance", "h1", "--ttl", str(TTL)).start()
    try:
        line = await holder.wait_for_line_async("READY", timeout=30)
        assert "claimed=True" in line
        assert await claim_owner(etcd_client, JOB, 0, 0) == "h1"
        member = keys.member(JOB, "rollout", "h1")
        assert await etcd_client.get(member.encode()) is not None
        mine = ShardClaims(etcd_client, JOB, "me", (await etcd_client.lease(30)).id)
        assert not await mine.try_claim(0, 0)

        holder.kill()
        killed_at = time.monotonic()
        await wait_for_key(etcd_client, member, present=False, timeout=TTL + 3)
        await wait_for_key(etcd_client, keys.claim(JOB, 0, 0), present=False, timeout=TTL + 3)
        gone_after = time.monotonic() - killed_at
        # The lease was refreshed at most ttl/3 before the kill; etcd 3.4 checks expiry every
        # 500 ms, so keys go between ~2/3 TTL and TTL + 0.5 s after; 1.5 s slack for busy CPUs.
        assert gone_after <= TTL + 1.5, gone_after
        print(f"keys of a SIGKILLed holder gone after {gone_after:.2f}s (ttl {TTL}s)")

        assert await mine.try_claim(0, 0)
        assert await claim_owner(etcd_client, JOB, 0, 0) == "me"
    finally:
        holder.kill()


async def test_eight_concurrent_claimers_one_winner_50_rounds(etcd_config: EtcdConfig) -> None:
    rounds = 50
    clients = [await connect(etcd_config) for _ in range(8)]
    try:
        await publish_shards(clients[0], JOB, 0, [{"i": i} for i in range(rounds)])
        leases = [(await c.lease(30)).id for c in clients]
        claimers = [
            ShardClaims(c, JOB, f"c{i}", lease)
            for i, (c, lease) in enumerate(zip(clients, leases, strict=True))
        ]
        for idx in range(rounds):
            results = await asyncio.gather(*(cl.try_claim(0, idx) for cl in claimers))
            assert sum(results) == 1, (idx, results)
            winner = claimers[results.index(True)].owner
            assert await claim_owner(clients[0], JOB, 0, idx) == winner
            # Losers cannot take it, the winner cannot claim twice.
            assert not any(await asyncio.gather(*(cl.try_claim(0, idx) for cl in claimers)))
    finally:
        for c in clients:
            await c.close()


async def test_eight_claimer_processes_one_winner(
    etcd: EtcdServer, etcd_client: aetcd.Client
) -> None:
    await publish_shards(etcd_client, JOB, 0, [{}])
    procs = [proc("claimer", etcd, "--instance", f"p{i}", "--ttl", "30") for i in range(8)]
    try:
        for p in procs:
            p.start()
        for p in procs:
            await p.wait_for_line_async("ARMED", timeout=60)
        await etcd_client.put(b"/test/go", b"1")
        results = [await p.wait_for_line_async("RESULT", timeout=30) for p in procs]
        names = [f"p{i}" for i in range(8)]
        winners = [n for n, r in zip(names, results, strict=True) if "won" in r]
        assert len(winners) == 1, results
        assert await claim_owner(etcd_client, JOB, 0, 0) == winners[0]
    finally:
        for p in procs:
            p.kill()


async def test_stale_owner_cannot_mark_done_or_release(etcd_client: aetcd.Client) -> None:
    await publish_shards(etcd_client, JOB, 3, [{"rows": [0, 4]}])
    lease_a = (await etcd_client.lease(30)).id
    lease_b = (await etcd_client.lease(30)).id
    a = ShardClaims(etcd_client, JOB, "a", lease_a)
    b = ShardClaims(etcd_client, JOB, "b", lease_b)
    assert await a.try_claim(3, 0)

    await etcd_client.revoke_lease(lease_a)  # a's lease expires (a hung controller)
    assert await b.try_claim(3, 0)
    assert not await a.mark_done(3, 0, {"reward": 1.0})
    assert not await a.release(3, 0)
    assert await claim_owner(etcd_client, JOB, 3, 0) == "b"
    shard = decode_shard((await etcd_client.get(keys.shard(JOB, 3, 0).encode())).value)
    assert shard.pending

    assert await b.mark_done(3, 0, {"reward": 0.5})
    shard = decode_shard((await etcd_client.get(keys.shard(JOB, 3, 0).encode())).value)
    assert (shard.state, shard.owner, shard.stats, shard.ref) == (
        "done", "b", {"reward": 0.5}, {"rows": [0, 4]}
    )  # fmt: skip
    assert await etcd_client.get(keys.claim(JOB, 3, 0).encode()) is None
    assert not await b.try_claim(3, 0)  # done shards are never claimed again


async def test_same_owner_name_with_new_lease_is_not_the_owner(etcd_client: aetcd.Client) -> None:
    """A restarted controller reusing its name must not finish its predecessor's claim."""
    await publish_shards(etcd_client, JOB, 0, [{}])
    old = ShardClaims(etcd_client, JOB, "ctrl-0", (await etcd_client.lease(30)).id)
    assert await old.try_claim(0, 0)
    new = ShardClaims(etcd_client, JOB, "ctrl-0", (await etcd_client.lease(30)).id)
    assert not await new.try_claim(0, 0)
    assert not await new.mark_done(0, 0, {})


async def test_claim_next_skips_done_and_claimed_then_runs_dry(etcd_client: aetcd.Client) -> None:
    assert await publish_shards(etcd_client, JOB, 1, [{"i": i} for i in range(5)]) == 5
    assert await publish_shards(etcd_client, JOB, 1, [{"i": i} for i in range(5)]) == 0
    lease = SessionLease(etcd_client, TTL)
    await lease.start()
    other = ShardClaims(etcd_client, JOB, "other", (await etcd_client.lease(30)).id)
    assert await other.try_claim(1, 2)
    assert await other.mark_done(1, 2, {})
    assert await other.try_claim(1, 4)

    mine = ShardClaims(etcd_client, JOB, "me", lease)
    got = {await mine.claim_next(1) for _ in range(3)}
    assert got == {0, 1, 3}
    assert await mine.claim_next(1) is None
    assert mine.held() == {(1, 0), (1, 1), (1, 3)}
    assert await mine.release(1, 1)
    assert await mine.claim_next(1) == 1
    for idx in (0, 1, 3):
        assert await mine.mark_done(1, idx, {"n": idx})
    assert await epoch_progress(etcd_client, JOB, 1) == (4, 5)
    await lease.stop()


async def test_missing_shard_is_not_claimable(etcd_client: aetcd.Client) -> None:
    claims = ShardClaims(etcd_client, JOB, "me", (await etcd_client.lease(30)).id)
    assert not await claims.try_claim(9, 9)
    assert await claims.claim_next(9) is None


def test_shard_state_round_trip() -> None:
    state = ShardState("done", ref={"path": "d.jsonl", "rows": [0, 8]}, stats={"r": 1.5}, owner="c")
    assert decode_shard(encode_shard(state)) == state
    assert decode_shard(encode_shard(ShardState())).pending


async def test_claims_are_forgotten_when_the_session_lease_is_lost(
    etcd_client: aetcd.Client,
) -> None:
    await publish_shards(etcd_client, JOB, 0, [{}, {}])
    lease = SessionLease(etcd_client, TTL)
    first = await lease.start()
    claims = ShardClaims(etcd_client, JOB, "me", lease)
    regranted: asyncio.Queue[int] = asyncio.Queue()
    lease.add_listener(on_ready=regranted.put)
    assert await claims.try_claim(0, 0)
    await etcd_client.revoke_lease(first)  # the claim key goes with it
    second = await asyncio.wait_for(regranted.get(), TTL + 2)
    assert second != first
    assert claims.held() == set()
    assert not await claims.mark_done(0, 0, {})
    assert await claims.try_claim(0, 0)
    assert (await etcd_client.get(keys.claim(JOB, 0, 0).encode())).lease == second
    await lease.stop()
    assert await etcd_client.get(keys.claim(JOB, 0, 0).encode()) is None
