"""Parallel controllers against a real local cluster: etcd, rollout, reward, reference, trainer.

A controller killed mid-shard loses nothing (its shard is re-claimed after its lease expires),
a controller started mid-job picks up work, and the trainer's ledger holds every shard of every
epoch exactly once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from yatt import keys
from yatt.cluster.local import LocalCluster
from yatt.codec.meta import unpack_map
from yatt.config import load_config
from yatt.config.common import EtcdConfig
from yatt.controller.config import JobConfig
from yatt.coordination.client import connect
from yatt.jobs import read_progress, registered, submit
from yatt.testing.jobs import TRAINER_ENV, trainer_status, wait_done

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def start_services(cluster: LocalCluster, model: Path, out: Path, *, global_batch: int) -> None:
    """rollout + reward + reference + trainer of job `cluster.job`, started side by side."""
    cluster.serve("trainer", "trainer", {
        "job": cluster.job, "model": str(model), "out_dir": str(out),
        "deepspeed": {"zero_stage": 1, "micro_batch": 8, "global_batch_samples": global_batch, "lr": 1e-4},
        "checkpoint_every": 2, "push_weights": True,
    }, wait=False, env=TRAINER_ENV)  # fmt: skip
    # The sim engine (sleeps up to ~2 s per Generate, random tokens) keeps the job running long
    # enough for a controller started mid-job to register and join, even on a loaded machine.
    cluster.serve("rollout", "rollout-0", {
        "model": {"path": str(model)}, "engine": "sim", "engine_concurrency": 4,
        "engine_options": {"step_s": 0.3, "row_step_s": 0.0, "prefill_s_per_token": 0.0},
    }, wait=False)  # fmt: skip
    cluster.serve("reference", "reference-0", {"model": {"path": str(model)}}, wait=False)
    cluster.serve("reward", "reward-0", {"functions": [{"name": "exact_answer"}]}, wait=False)
    for name in ("trainer", "rollout-0", "reference-0", "reward-0"):
        cluster.wait_ready(name, timeout=240)


def job_config(cluster: LocalCluster, data: Path, **sets: object) -> JobConfig:
    raw = {
        "job": cluster.job,
        "data": {"path": str(data), "metadata_columns": ["answer"], "shard_size": 4, "epochs": 2},
        "sampling": {"n": 4, "max_new_tokens": 6, "temperature": 1.0},
        "algorithm": {"name": "grpo", "max_staleness": 1},
        "controller": {"shards_in_flight": 1, "backoff_s": 0.1},
    }
    return load_config(JobConfig, data=raw, overrides=[f"{k}={v}" for k, v in sets.items()])


async def shard_owner(client, job: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    found = await client.get_prefix(keys.claims_prefix(job).encode())
    prefix = keys.claims_prefix(job)
    return {kv.key.decode()[len(prefix) :]: unpack_map(kv.value)["owner"] for kv in found}


async def test_killed_controller_loses_nothing_and_new_controller_joins(
    cluster: LocalCluster, tiny_model: Path, tmp_path: Path, arith_file
) -> None:
    data = arith_file(40)  # 10 shards x 2 epochs = 20 shards
    start_services(cluster, tiny_model, tmp_path / "trainer", global_batch=32)
    client = await connect(EtcdConfig(endpoint=cluster.etcd_endpoint))
    try:
        job = job_config(cluster, data)
        total = await submit(client, job)
        assert total == 20
        victim = cluster.controller("ctl-a")
        cluster.controller("ctl-b")
        # Kill ctl-a while it holds a claim: mid-shard, between claim and mark-done.
        deadline = time.monotonic() + 120
        while "ctl-a" not in (owners := await shard_owner(client, job.job)).values():
            assert time.monotonic() < deadline, victim.tail()
            await asyncio.sleep(0.05)
        orphan = next(shard for shard, owner in owners.items() if owner == "ctl-a")
        victim.kill()
        # A third controller joins mid-job with no configuration change.
        cluster.controller("ctl-c")
        while "ctl-c" not in await registered(client, job.job, "controller"):
            assert (await read_progress(client, job.job)).state == "running"
            await asyncio.sleep(0.2)
        assert (await read_progress(client, job.job)).shards_done < 20  # it joined mid-job
        await wait_done(client, job.job, timeout=400)

        progress = await read_progress(client, job.job)
        assert progress.shards_done == progress.shards_total == 20
        shards = await client.get_prefix(keys.shards_prefix(job.job).encode())
        by_controller: dict[str, int] = {}
        for kv in shards:
            stats = unpack_map(kv.value)["stats"]
            by_controller[stats["controller"]] = by_controller.get(stats["controller"], 0) + 1
        assert by_controller.get("ctl-c", 0) >= 1, by_controller  # the late joiner did work
        orphan_stats = unpack_map(
            (await client.get(keys.shard(job.job, *map(int, orphan.split("/"))).encode())).value
        )["stats"]
        assert orphan_stats["controller"] != "ctl-a"  # re-claimed after the lease expired
        # Every shard of every epoch is in the trainer's ledger exactly once: 12 distinct ids,
        # and the ledger refuses each of them again (see the trainer tests for ALREADY_EXISTS).
        ledger = await trainer_status(cluster)
        assert ledger.applied_shards == 20, ledger
    finally:
        await client.close()
