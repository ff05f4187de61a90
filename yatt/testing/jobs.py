"""Helpers for tests that run whole jobs: the trainer's environment, waiting, the ledger."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import aetcd

from yatt.cluster.local import LocalCluster
from yatt.jobs import read_progress

if TYPE_CHECKING:
    from yatt.services.trainer.core import TrainerState

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


async def trainer_status(cluster: LocalCluster, timeout: float = 60) -> TrainerState:
    """The trainer's Status RPC: step, applied shards, pending samples, ledger, last metrics."""
    from yatt.services.trainer.client import TrainerClient

    async with TrainerClient.connect(cluster.endpoints["trainer"]) as trainer:
        return await trainer.status(timeout_s=timeout)
