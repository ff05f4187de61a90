"""PlacementService protobuf <-> placement domain objects, and nothing else."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from yatt.protos import placement_pb2

from .state import Move, PlacementView


def move_to_proto(move: Move) -> placement_pb2.Move:
    return placement_pb2.Move(
        time=move.time,
        slot=move.slot,
        from_role=move.from_role,
        to_role=move.to_role,
        reason=move.reason,
        queue_depths=dict(move.queue_depths),
    )


def move_from_proto(msg: placement_pb2.Move) -> Move:
    return Move(
        slot=msg.slot,
        from_role=msg.from_role,
        to_role=msg.to_role,
        reason=msg.reason,
        time=msg.time,
        queue_depths=dict(msg.queue_depths),
    )


def assignments_to_proto(assignments: Mapping[int, str]) -> list[placement_pb2.SlotAssignment]:
    return [placement_pb2.SlotAssignment(slot=s, role=assignments[s]) for s in sorted(assignments)]


def assignments_from_proto(msgs: Iterable[placement_pb2.SlotAssignment]) -> dict[int, str]:
    return {m.slot: m.role for m in msgs}


def view_to_proto(view: PlacementView) -> placement_pb2.PlacementStatus:
    return placement_pb2.PlacementStatus(
        leader=view.leader,
        policy=view.policy,
        assignments=assignments_to_proto(view.assignments),
        history=[move_to_proto(m) for m in view.history],
    )


def view_from_proto(msg: placement_pb2.PlacementStatus) -> PlacementView:
    return PlacementView(
        leader=msg.leader,
        policy=msg.policy,
        assignments=assignments_from_proto(msg.assignments),
        history=[move_from_proto(m) for m in msg.history],
    )
