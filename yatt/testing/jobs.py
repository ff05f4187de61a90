"""Helpers for tests that run whole jobs: the trainer's environment, waiting, the ledger."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import aetcd

from yatt.cluster.local import LocalCluster
from yatt.jobs import read_progress

REPO = Path(__file__).resolve().parents[2]
# DeepSpeed on CPU, with its JIT-built op cached between runs.
TRAINER_ENV = {
    "DS_ACCELERATOR": "cpu",
    "TORCH_EXTENSIONS_DIR": os.environ.get("TORCH_EXTENSIONS_DIR", str(REPO / ".torch_extensions")),
}


async def wait_done(client: aetcd.Client, job: str, timeout: float) -> None:
    """Returns when the job is done; fails on a failed job or after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = await read_progress(client, job)
        if progress.finished:
            assert progress.state == "done", progress.reason
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"job not done in {timeout}s: {await read_progress(client, job)}")


async def trainer_status(cluster: LocalCluster) -> dict[str, Any]:
    """The trainer's Status RPC: applied shard count and the last step's metrics."""
    from yatt.codec.meta import unpack
    from yatt.protos import trainer_pb2, trainer_pb2_grpc
    from yatt.rpc.channel import make_channel

    async with make_channel(cluster.endpoints["trainer"]) as channel:
        status = await trainer_pb2_grpc.TrainerServiceStub(channel).Status(
            trainer_pb2.TrainerStatusRequest(), timeout=30
        )
    return {
        "applied_shards": status.applied_shards,
        "step": status.step,
        "metrics": unpack(status.last_metrics),
    }
