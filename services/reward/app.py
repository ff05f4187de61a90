"""Wires the reward service: build and start the functions, serve RewardService, register.

Unknown plugin names and bad options fail here, before the port opens.
"""

from __future__ import annotations

from yatt.contracts import RewardMember
from yatt.protos import reward_pb2_grpc
from yatt.rpc.app import serve
from yatt.rpc.server import ServiceRuntime

from .config import RewardConfig
from .core import RewardCore
from .server import RewardServicer

ROLE = "reward"
SERVICE = "yatt.v1.RewardService"


async def run(cfg: RewardConfig) -> None:
    """Serves until SIGTERM/SIGINT; the functions are closed on the way out."""
    core = RewardCore.from_config(cfg)
    await core.start()
    try:
        runtime = ServiceRuntime(cfg.server, ROLE)
        runtime.add(
            reward_pb2_grpc.add_RewardServiceServicer_to_server, RewardServicer(core), SERVICE
        )
        await serve(
            runtime,
            ROLE,
            cfg.etcd,
            cfg.registration,
            member_info=lambda: RewardMember(functions=core.components),
        )
    finally:
        await core.close()
