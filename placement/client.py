"""PlacementClient: the one typed client of PlacementService (`yatt placement`, tests).

Takes and returns placement's domain objects; errors (not the leader, bad policy params) are
yatt.errors classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc

from yatt.codec.meta import pack
from yatt.protos import placement_pb2, placement_pb2_grpc
from yatt.rpc.client import ServiceClient
from yatt.rpc.errors import domain_errors

from . import convert
from .state import Move, PlacementView


class PlacementClient(ServiceClient):
    def __init__(self, channel: grpc.aio.Channel, target: str = "") -> None:
        super().__init__(channel, target)
        self._stub = placement_pb2_grpc.PlacementServiceStub(self.channel)

    async def plan(
        self, *, dry_run: bool = False, timeout_s: float = 30.0
    ) -> tuple[list[Move], dict[int, str]]:
        """The moves the policy makes now (applied unless dry_run) and the assignments after."""
        with domain_errors():
            reply = await self._stub.Plan(
                placement_pb2.PlanRequest(dry_run=dry_run), timeout=timeout_s
            )
        moves = [convert.move_from_proto(m) for m in reply.moves]
        return moves, convert.assignments_from_proto(reply.assignments)

    async def status(self, *, timeout_s: float = 10.0) -> PlacementView:
        with domain_errors():
            reply = await self._stub.Status(
                placement_pb2.PlacementStatusRequest(), timeout=timeout_s
            )
        return convert.view_from_proto(reply)

    async def set_policy(
        self, policy: str, params: Mapping[str, Any] | None = None, *, timeout_s: float = 10.0
    ) -> str:
        """Switches the leader's policy; returns the name it now runs."""
        request = placement_pb2.SetPolicyRequest(policy=policy, params=pack(dict(params or {})))
        with domain_errors():
            reply = await self._stub.SetPolicy(request, timeout=timeout_s)
        return reply.policy
