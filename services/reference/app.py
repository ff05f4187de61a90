"""Wires the reference service: load the frozen model, serve ReferenceService, register in etcd.

A bad model path fails here, before the port opens.
"""

from __future__ import annotations

import asyncio

from yatt.contracts import ReferenceMember
from yatt.protos import reference_pb2_grpc
from yatt.rpc.app import serve
from yatt.rpc.server import ServiceRuntime

from .config import ReferenceConfig
from .core import ReferenceCore
from .server import ReferenceServicer

ROLE = "reference"
SERVICE = "yatt.v1.ReferenceService"


async def run(cfg: ReferenceConfig) -> None:
    """Serves until SIGTERM/SIGINT."""
    core = await asyncio.to_thread(ReferenceCore.from_config, cfg)
    try:
        runtime = ServiceRuntime(cfg.server, ROLE)
        runtime.add(
            reference_pb2_grpc.add_ReferenceServiceServicer_to_server,
            ReferenceServicer(core),
            SERVICE,
        )
        member = ReferenceMember(model=cfg.model.path)
        await serve(runtime, ROLE, cfg.etcd, cfg.registration, member_info=lambda: member)
    finally:
        core.close()
