"""Wires a worker process: connect to etcd, supervise the slot until SIGTERM/SIGINT.

The worker serves no RPC itself; its children are the services, and its etcd member key
(members/worker/slot-N) says what the slot currently runs.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from yatt.coordination.client import connect

from .config import WorkerConfig
from .supervisor import WorkerSupervisor

log = logging.getLogger(__name__)


async def run(cfg: WorkerConfig) -> None:
    """Supervises until SIGTERM/SIGINT; the current child is drained and stopped first."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    client = await connect(cfg.etcd)
    try:
        supervisor = WorkerSupervisor(cfg, client)
        print(f"yatt worker slot {cfg.slot} of job {cfg.job} started", flush=True)
        await supervisor.run(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await client.close()
    log.info("worker slot %d stopped", cfg.slot)
