"""Wires a placement process: the leader/standby loop, the PlacementService, registration.

`yatt placement run` calls `run(cfg)`; several may run for one job, one leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

from yatt.contracts import PlacementMember
from yatt.coordination.client import connect
from yatt.logs import set_log_context
from yatt.protos import placement_pb2_grpc
from yatt.rpc.app import serve
from yatt.rpc.server import ServiceRuntime

from .config import PlacementConfig
from .leader import PlacementNode
from .server import PlacementServicer

ROLE = "placement"
SERVICE = "yatt.v1.PlacementService"

log = logging.getLogger(__name__)


def _report_crash(task: asyncio.Task[None]) -> None:
    """A dead leader loop must not leave a process that looks alive: stop the server too."""
    if task.cancelled() or task.exception() is None:
        return
    log.error("placement loop crashed", exc_info=task.exception())
    os.kill(os.getpid(), signal.SIGTERM)


async def run(cfg: PlacementConfig) -> None:
    """Serves and campaigns until SIGTERM/SIGINT; a leader resigns on the way out."""
    cfg.check()
    client = await connect(cfg.etcd)
    node = PlacementNode(client, cfg)
    set_log_context(job=cfg.job, instance=node.candidate_id)
    loop_task = asyncio.create_task(node.run(), name="placement-leader")
    loop_task.add_done_callback(_report_crash)
    try:
        runtime = ServiceRuntime(cfg.server, ROLE)
        runtime.add(
            placement_pb2_grpc.add_PlacementServiceServicer_to_server,
            PlacementServicer(node),
            SERVICE,
        )
        await serve(
            runtime,
            ROLE,
            cfg.etcd,
            cfg.registration_for_job(),
            member_info=lambda: PlacementMember(leader=node.is_leader, candidate=node.candidate_id),
        )
    finally:
        loop_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop_task
        await node.close()
        await client.close()
