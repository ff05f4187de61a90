"""SIGKILL every role in turn during one job: a controller, a rollout, a reward and a reference
instance (each role runs two, so the job goes on with the other), the placement leader (a
standby takes over; the job never depended on it) and the trainer while it writes a checkpoint.

The restarted trainer resumes from the previous checkpoint (the half-written one is ignored)
plus its journal, the job completes, and the ledger holds every shard exactly once.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aetcd
import pytest
from _faults import (
    assert_exactly_once,
    claim_owners,
    job_config,
    log_lines,
    restart_trainer,
    start_services,
    start_trainer,
    trainer_config,
    wait_all_ready,
    wait_done,
    wait_shards_done,
)

from yatt import keys
from yatt.cluster.local import LocalCluster
from yatt.codec.meta import unpack_map
from yatt.config.common import EtcdConfig
from yatt.coordination.client import connect
from yatt.jobs import read_progress, submit
from yatt.services.trainer import checkpoint as ckpt

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(540)]

PAUSED = "staged, not committed; pausing"


def start_placement(cluster: LocalCluster, name: str) -> None:
    config = cluster.write_config(name, {
        "job": cluster.job, "slots": 2, "tick_s": 0.5,
        "roles": {"rollout": {"initial": 1}, "reward": {"initial": 1}},
        "policy": {"params": {"cooldown_s": 600}},
        "etcd": {"endpoint": cluster.etcd_endpoint, "lease_ttl_s": cluster.lease_ttl_s},
    })  # fmt: skip
    cluster.start(name, "placement", config)


async def kill_when_busy(cluster: LocalCluster, client: aetcd.Client, role: str, name: str) -> None:
    """SIGKILLs instance `name` of role, preferably while it serves a call (waits up to 2 s)."""
    key = keys.member(cluster.job, role, name).encode()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        kv = await client.get(key)
        if kv is not None and (unpack_map(kv.value).get("load") or {}).get("in_flight", 0) > 0:
            break
        await asyncio.sleep(0.05)
    cluster.processes[name].kill()


async def kill_trainer_mid_checkpoint(
    cluster: LocalCluster, client: aetcd.Client, config: dict, ckpt_root: Path
) -> str:
    """SIGKILLs the trainer while a checkpoint is staged but not committed (the test hook in
    checkpoint.py holds that window open); restarts it with the same config, without the hook.
    Returns the tag it must have resumed from."""
    trainer = cluster.processes["trainer"]
    deadline = time.monotonic() + 180
    # Kill in a pause that begins after some checkpoint is committed (older pauses may be over).
    while ckpt.read_latest(ckpt_root) is None:
        assert time.monotonic() < deadline and trainer.alive(), trainer.tail()
        await asyncio.sleep(0.05)
    seen = len(log_lines(cluster, "trainer", PAUSED))
    while len(log_lines(cluster, "trainer", PAUSED)) <= seen:
        assert time.monotonic() < deadline and trainer.alive(), trainer.tail()
        await asyncio.sleep(0.05)
    trainer.kill()
    staged = log_lines(cluster, "trainer", PAUSED)[-1].split("checkpoint ")[1].split()[0]
    latest = ckpt.read_latest(ckpt_root)
    assert latest is not None and latest < staged, (latest, staged)
    # The half-written checkpoint is only in the staging dir; `latest` names a whole one.
    assert (ckpt.staging_root(ckpt_root) / staged).is_dir()
    assert not (ckpt_root / staged).exists()
    state = json.loads((ckpt_root / latest / ckpt.STATE_FILE).read_text())
    assert state["step"] == int(latest.split("-")[1])
    await asyncio.to_thread(restart_trainer, cluster, config)
    return latest


async def test_every_role_sigkilled_mid_job(
    cluster: LocalCluster, tiny_model: Path, tmp_path: Path, arith_file
) -> None:
    data = arith_file(64)  # 16 shards x 2 epochs = 32 shards = 16 steps of 32 samples
    out = tmp_path / "trainer"
    config = trainer_config(cluster, tiny_model, out, checkpoint_every=2)
    start_trainer(cluster, config, env={ckpt.PAUSE_ENV: "3"})
    names = start_services(cluster, tiny_model, replicas=2)
    start_placement(cluster, "placement-a")
    start_placement(cluster, "placement-b")
    wait_all_ready(cluster, ["trainer", *names])
    client = await connect(EtcdConfig(endpoint=cluster.etcd_endpoint))
    try:
        job = job_config(cluster, data)
        assert await submit(client, job) == 32
        cluster.controller("ctl-a")
        cluster.controller("ctl-b")

        # A controller, mid-shard (between claim and mark-done); a third one joins.
        deadline = time.monotonic() + 120
        while "ctl-a" not in (await claim_owners(client, job.job)).values():
            assert time.monotonic() < deadline, cluster.processes["ctl-a"].tail()
            await asyncio.sleep(0.02)
        cluster.processes["ctl-a"].kill()
        cluster.controller("ctl-c")

        # The trainer, while it writes a checkpoint: it resumes from the previous one.
        ckpt_root = out / "checkpoints"
        resumed_from = await kill_trainer_mid_checkpoint(cluster, client, config, ckpt_root)
        assert log_lines(cluster, "trainer", f"resumed from {ckpt_root / resumed_from}:")

        # One instance of each service role, each while (preferably) serving a call.
        done = (await read_progress(client, job.job)).shards_done
        for role in ("rollout", "reward", "reference"):
            done = await wait_shards_done(client, job.job, done + 1, timeout=180)
            await kill_when_busy(cluster, client, role, f"{role}-0")
        assert (await read_progress(client, job.job)).shards_done < 32, "faults came too late"

        # The placement leader: the standby takes over; nothing in the job waits for it.
        leader = (await client.get(keys.placement_leader(job.job).encode())).value.decode()
        victim, standby = ("placement-a", "placement-b")
        if f"-{cluster.processes[victim].pid}-" not in leader:
            victim, standby = standby, victim
        cluster.processes[victim].kill()
        cluster.processes[standby].wait_for_line("yatt placement leading job", timeout=60)

        await wait_done(client, job.job, timeout=300)
        assert cluster.processes["ctl-b"].wait(timeout=30) == 0
        assert cluster.processes["ctl-c"].wait(timeout=30) == 0
        for name in (*names, standby):
            alive = not name.endswith("-0") or name.startswith("placement")
            assert cluster.processes[name].alive() == alive, name
        await assert_exactly_once(cluster, client, job.job)
    finally:
        await client.close()
