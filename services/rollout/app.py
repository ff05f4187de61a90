"""Wires the rollout service: load engine and tokenizer, serve RolloutService, register in etcd.

A bad model path or engine name fails here, before the port opens.
"""

from __future__ import annotations

import asyncio
import logging

from yatt.contracts import RolloutMember
from yatt.protos import rollout_pb2_grpc
from yatt.rpc.app import Registration, serve
from yatt.rpc.server import ServiceRuntime
from yatt.transport.host import host_id
from yatt.transport.registry import offered
from yatt.transport.segments import sweep_dead

from .config import RolloutConfig
from .core import RolloutCore
from .server import RolloutServicer

log = logging.getLogger(__name__)

ROLE = "rollout"
JANITOR_PERIOD_S = 30.0
SERVICE = "yatt.v1.RolloutService"


async def run(cfg: RolloutConfig) -> None:
    """Serves until SIGTERM/SIGINT; the engine is closed on the way out."""
    runtime = ServiceRuntime(cfg.server, ROLE)
    registration: list[Registration] = []

    async def on_version(_: int) -> None:  # etcd shows the new version without waiting a tick
        for reg in registration:
            await reg.refresh()

    transports = offered()
    core = await asyncio.to_thread(
        RolloutCore.from_config, cfg, on_tokens=runtime.load.record_tokens, on_version=on_version
    )
    # Segments of trainers that died (SIGKILL) without their reaper: free them now and then.
    janitor = asyncio.create_task(sweep_segments_every(JANITOR_PERIOD_S))
    try:
        runtime.add(
            rollout_pb2_grpc.add_RolloutServiceServicer_to_server, RolloutServicer(core), SERVICE
        )

        def member_info() -> RolloutMember:
            info = core.info()
            return RolloutMember(
                engine=info.engine,
                model=info.model,
                weight_version=info.weight_version,
                # The trainer picks the weight transport from these (shm on the same host).
                host_id=host_id(),
                weight_transports=transports,
            )

        await serve(
            runtime,
            ROLE,
            cfg.etcd,
            cfg.registration,
            member_info=member_info,
            on_ready=lambda reg: registration.extend([reg] if reg else []),
        )
    finally:
        janitor.cancel()
        await asyncio.to_thread(core.close)


async def sweep_segments_every(period_s: float) -> None:
    while True:
        removed = await asyncio.to_thread(sweep_dead)
        if removed:
            log.info("freed %d weight segments of dead trainers", len(removed))
        await asyncio.sleep(period_s)
