"""Coordination faults on one cluster and one job: a paused controller is fenced, then etcd
itself goes down for longer than the lease TTL and comes back.

Phase 1: SIGSTOP a controller holding a claim until another controller has finished its
shard, then SIGCONT it: its push is refused by the trainer's ledger (ALREADY_EXISTS) and its
mark-done by the claim transaction. Phase 2: etcd stopped 3 TTLs and restarted on its data dir:
every process registers again under a new lease and the controllers finish the job. Both end
with every shard in the ledger exactly once (the last partial batch flushed when done).
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aetcd
import pytest
from _faults import (
    assert_exactly_once,
    claim_owners,
    job_config,
    log_lines,
    shard_stats,
    start_services,
    start_trainer,
    trainer_config,
    wait_all_ready,
    wait_done,
)

from yatt import keys
from yatt.cluster.local import LocalCluster
from yatt.config.common import EtcdConfig
from yatt.coordination.client import connect
from yatt.jobs import read_progress, submit

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(480)]

ROLES = {"trainer", "rollout", "reference", "reward", "controller"}


async def member_leases(client: aetcd.Client, job: str) -> dict[str, int]:
    """member key (role/instance) -> the lease it is bound to."""
    prefix = keys.members_prefix(job)
    found = await client.get_prefix(prefix.encode())
    return {kv.key.decode()[len(prefix) :]: kv.lease for kv in found}


async def fence_paused_controller(cluster: LocalCluster, client: aetcd.Client, job: str) -> str:
    """SIGSTOPs ctl-stale while it holds a claim, SIGCONTs it once ctl-b finished that shard."""
    stale = cluster.controller("ctl-stale")
    deadline = time.monotonic() + 120
    while "ctl-stale" not in (owners := await claim_owners(client, job)).values():
        assert time.monotonic() < deadline and stale.alive(), stale.tail()
        await asyncio.sleep(0.02)
    stale.signal(signal.SIGSTOP)
    try:
        orphan = next(shard for shard, owner in owners.items() if owner == "ctl-stale")
        cluster.controller("ctl-b")
        # ctl-b takes the shard once the paused owner's lease has expired, and finishes it.
        deadline = time.monotonic() + 120
        while (await shard_stats(client, job)).get(orphan, {}).get("controller") != "ctl-b":
            assert time.monotonic() < deadline, cluster.processes["ctl-b"].tail()
            await asyncio.sleep(0.1)
    finally:
        stale.signal(signal.SIGCONT)
    # Woken up, the stale controller finishes its copy of the shard: the trainer refuses the
    # push (the shard is in its ledger) and etcd refuses the mark-done (the claim is not ours).
    deadline = time.monotonic() + 60
    refused = f"shard {orphan}: claim lost; not marked done"
    while not log_lines(cluster, "ctl-stale", refused):
        assert time.monotonic() < deadline, stale.tail()
        await asyncio.sleep(0.2)
    assert not log_lines(cluster, "ctl-stale", f"shard {orphan} done:"), stale.tail()
    stats = (await shard_stats(client, job))[orphan]
    # Either ctl-b pushed first (the stale push answered ALREADY_EXISTS) or the stale one had
    # pushed before it was paused (then ctl-b's push was the one refused): never both applied.
    pushed_by_stale_first = stats.get("already_applied", False)
    if not pushed_by_stale_first:
        assert log_lines(cluster, "ctl-stale", f"shard {orphan} was already applied"), stale.tail()
    return orphan


async def survive_etcd_outage(cluster: LocalCluster, job: str) -> None:
    """Stops etcd for 3 TTLs mid-job; every registered process re-registers under a new lease."""
    client = await connect(EtcdConfig(endpoint=cluster.etcd_endpoint))
    try:
        progress = await read_progress(client, job)
        assert progress.shards_done < progress.shards_total, "the job ended before the outage"
        before = await member_leases(client, job)
        assert {key.split("/")[0] for key in before} >= ROLES, before
    finally:
        await client.close()
    assert cluster.etcd is not None
    # Same data dir and ports: keys and leases survive on disk, as after an etcd crash.
    await asyncio.to_thread(cluster.etcd.restart, down_s=3 * cluster.lease_ttl_s)
    client = await connect(EtcdConfig(endpoint=cluster.etcd_endpoint))
    try:
        deadline = time.monotonic() + 60
        while True:
            after = await member_leases(client, job)
            # Controllers may finish and leave meanwhile; every other member must be back.
            missing = {k for k in before if k not in after and not k.startswith("controller/")}
            stale = {k for k in before if k in after and after[k] == before[k]}
            if not missing and not stale:
                break
            assert time.monotonic() < deadline, f"missing {missing}, on old lease {stale}"
            await asyncio.sleep(0.2)
    finally:
        await client.close()


async def test_stale_controller_fenced_then_etcd_outage(
    cluster: LocalCluster, tiny_model: Path, tmp_path: Path, arith_file
) -> None:
    data = arith_file(36)  # 9 shards x 3 epochs = 27 shards, 432 samples: the last 16 flushed
    start_trainer(cluster, trainer_config(cluster, tiny_model, tmp_path / "trainer"))
    names = start_services(cluster, tiny_model)
    wait_all_ready(cluster, ["trainer", *names])
    client = await connect(EtcdConfig(endpoint=cluster.etcd_endpoint))
    try:
        job = job_config(cluster, data, epochs=3)
        assert await submit(client, job) == 27
        await fence_paused_controller(cluster, client, job.job)
        await client.close()

        await survive_etcd_outage(cluster, job.job)

        client = await connect(EtcdConfig(endpoint=cluster.etcd_endpoint))
        await wait_done(client, job.job, timeout=240)
        for name in ("ctl-stale", "ctl-b"):
            assert cluster.processes[name].wait(timeout=30) == 0, cluster.processes[name].tail()
        for name in ("trainer", *names):
            assert cluster.processes[name].alive(), cluster.processes[name].tail()
        await assert_exactly_once(cluster, client, job.job)
    finally:
        await client.close()
