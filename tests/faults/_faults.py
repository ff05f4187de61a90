"""Helpers of the fault tests: start a job's services, read the trainer's ledger, wait on etcd.

Every fault test ends with `assert_exactly_once`: the trainer's ledger holds every shard id of
every epoch as applied, nothing pending, and it trained on exactly the samples those shards hold.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from typing import Any

import aetcd

from yatt import keys
from yatt.cluster.local import SERVING, LocalCluster
from yatt.codec.meta import unpack_map
from yatt.config import load_config
from yatt.controller.config import JobConfig
from yatt.jobs import read_progress
from yatt.process.handle import ProcessHandle
from yatt.testing.jobs import trainer_status

REPO = Path(__file__).resolve().parents[2]
TRAINER_ENV = {
    "DS_ACCELERATOR": "cpu",
    "TORCH_EXTENSIONS_DIR": os.environ.get("TORCH_EXTENSIONS_DIR", str(REPO / ".torch_extensions")),
}
# Job shape shared by every fault test: 4 prompts x 4 samples = 16 samples per shard.
SHARD_SIZE = 4
SAMPLES_PER_PROMPT = 4
SAMPLES_PER_SHARD = SHARD_SIZE * SAMPLES_PER_PROMPT


def trainer_config(
    cluster: LocalCluster, model: Path, out: Path, *, global_batch: int = 32, **extra: Any
) -> dict[str, Any]:
    return {
        "job": cluster.job, "model": str(model), "out_dir": str(out),
        "deepspeed": {"zero_stage": 1, "micro_batch": 8, "global_batch_samples": global_batch,
                      "lr": 1e-4},
        "checkpoint_every": 2, "push_weights": True, **extra,
    }  # fmt: skip


def start_trainer(
    cluster: LocalCluster, config: dict[str, Any], env: dict[str, str] | None = None
) -> ProcessHandle:
    """(Re)starts the trainer under the name "trainer" with config (same config = resume)."""
    return cluster.serve(
        "trainer", "trainer", config, wait=False, env={**TRAINER_ENV, **(env or {})}
    )


def restart_trainer(cluster: LocalCluster, config: dict[str, Any], timeout: float = 240) -> str:
    """Starts the trainer again (same name, config, log file); returns its new endpoint once it
    serves. The log is appended to, so readiness is a *new* "serving on" line."""
    before = len(re.findall(SERVING, cluster.processes["trainer"].output()))
    proc = start_trainer(cluster, config)
    deadline = time.monotonic() + timeout
    while len(found := re.findall(SERVING, proc.output())) <= before:
        assert proc.alive() and time.monotonic() < deadline, proc.tail()
        time.sleep(0.2)
    cluster.endpoints["trainer"] = found[-1]
    return found[-1]


def start_services(cluster: LocalCluster, model: Path, replicas: int = 1) -> list[str]:
    """rollout, reference and reward instances (replicas of each); returns their names."""
    names = []
    for i in range(replicas):
        cluster.serve("rollout", f"rollout-{i}", {"model": {"path": str(model)}}, wait=False)
        cluster.serve("reference", f"reference-{i}", {"model": {"path": str(model)}}, wait=False)
        cluster.serve(
            "reward", f"reward-{i}", {"functions": [{"name": "exact_answer"}]}, wait=False
        )
        names += [f"rollout-{i}", f"reference-{i}", f"reward-{i}"]
    return names


def wait_all_ready(cluster: LocalCluster, names: list[str], timeout: float = 240) -> None:
    for name in names:
        cluster.wait_ready(name, timeout=timeout)


def job_config(cluster: LocalCluster, data: Path, epochs: int = 2, **sets: object) -> JobConfig:
    raw = {
        "job": cluster.job,
        "data": {"path": str(data), "metadata_columns": ["answer"], "shard_size": SHARD_SIZE,
                 "epochs": epochs},
        "sampling": {"n": SAMPLES_PER_PROMPT, "max_new_tokens": 6, "temperature": 1.0},
        "algorithm": {"name": "grpo", "max_staleness": 1},
        "controller": {"shards_in_flight": 1, "backoff_s": 0.1},
    }  # fmt: skip
    return load_config(JobConfig, data=raw, overrides=[f"{k}={v}" for k, v in sets.items()])


async def shard_ids(client: aetcd.Client, job: str) -> set[str]:
    """Every shard id ("<epoch>/<idx>") the job published, done or not."""
    prefix = keys.shards_prefix(job)
    return {kv.key.decode()[len(prefix) :] for kv in await client.get_prefix(prefix.encode())}


async def shard_stats(client: aetcd.Client, job: str) -> dict[str, dict[str, Any]]:
    prefix = keys.shards_prefix(job)
    found = await client.get_prefix(prefix.encode())
    return {kv.key.decode()[len(prefix) :]: unpack_map(kv.value).get("stats") or {} for kv in found}


async def claim_owners(client: aetcd.Client, job: str) -> dict[str, str]:
    """shard id -> controller holding its claim now."""
    prefix = keys.claims_prefix(job)
    found = await client.get_prefix(prefix.encode())
    return {kv.key.decode()[len(prefix) :]: unpack_map(kv.value)["owner"] for kv in found}


async def wait_shards_done(client: aetcd.Client, job: str, count: int, timeout: float) -> int:
    """Waits until at least count shards are done; returns how many are."""
    deadline = time.monotonic() + timeout
    while True:
        progress = await read_progress(client, job)
        assert progress.state != "failed", progress.reason
        if progress.shards_done >= count:
            return progress.shards_done
        if time.monotonic() > deadline:
            raise AssertionError(f"only {progress.shards_done}/{count} shards done in {timeout}s")
        await asyncio.sleep(0.2)


async def wait_done(client: aetcd.Client, job: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = await read_progress(client, job)
        if progress.finished:
            assert progress.state == "done", progress.reason
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"job not done in {timeout}s: {await read_progress(client, job)}")


async def assert_exactly_once(
    cluster: LocalCluster, client: aetcd.Client, job: str, timeout: float = 60
) -> dict[str, Any]:
    """Every published shard applied once: the ledger's applied ids are exactly the job's shard
    ids, nothing is left pending (the trainer flushes a partial batch when the job is done), and
    the samples in all steps add up to the shards' samples (a double apply would exceed it)."""
    ids = await shard_ids(client, job)
    deadline = time.monotonic() + timeout
    while True:  # the flush runs within a second or two of the job being marked done
        status = await trainer_status(cluster)
        ledger = status.ledger
        if not ledger["pending"] or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert ledger["pending"] == [], ledger["pending"]
    assert status.pending_samples == 0
    assert set(ledger["applied"]) == ids, sorted(ids ^ set(ledger["applied"]))
    assert len(ledger["applied"]) == len(ids)
    assert ledger["samples_trained"] == len(ids) * SAMPLES_PER_SHARD, ledger["samples_trained"]
    return status


def log_lines(cluster: LocalCluster, name: str, needle: str) -> list[str]:
    return [line for line in cluster.processes[name].output().splitlines() if needle in line]
