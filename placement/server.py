"""The PlacementService servicer: protobuf in, PlacementNode call, protobuf out.

No logic here; errors (not the leader, bad policy) are raised by the node as yatt errors.
"""

from __future__ import annotations

from typing import Any

from yatt.codec.meta import unpack_map
from yatt.errors import InvalidArgument
from yatt.protos import placement_pb2, placement_pb2_grpc

from . import convert
from .config import PolicyConfig
from .leader import PlacementNode
from .state import PlacementView

# Status replies carry the newest moves; the full history stays in etcd.
STATUS_HISTORY = 100


class PlacementServicer(placement_pb2_grpc.PlacementServiceServicer):
    def __init__(self, node: PlacementNode) -> None:
        self.node = node

    async def Plan(
        self, request: placement_pb2.PlanRequest, context: Any
    ) -> placement_pb2.PlanReply:
        moves = await self.node.plan(dry_run=request.dry_run)
        assignments = await self.node.assignments()
        return placement_pb2.PlanReply(
            moves=[convert.move_to_proto(m) for m in moves],
            assignments=convert.assignments_to_proto(assignments),
        )

    async def Status(
        self, request: placement_pb2.PlacementStatusRequest, context: Any
    ) -> placement_pb2.PlacementStatus:
        view = PlacementView(
            leader=await self.node.leader() or "",
            policy=self.node.core.policy.name,
            assignments=await self.node.assignments(),
            history=await self.node.history(STATUS_HISTORY),
        )
        return convert.view_to_proto(view)

    async def SetPolicy(
        self, request: placement_pb2.SetPolicyRequest, context: Any
    ) -> placement_pb2.SetPolicyReply:
        params = unpack_map(request.params, what="policy params")
        bad = [k for k in params if not isinstance(k, str)]
        if bad:  # PolicyConfig would raise a pydantic error, which reads as INTERNAL
            raise InvalidArgument(f"policy params: keys must be strings, got {bad[:3]!r}")
        name = self.node.set_policy(PolicyConfig(name=request.policy, params=params))
        return placement_pb2.SetPolicyReply(policy=name)
