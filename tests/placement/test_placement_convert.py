"""Round trips of the placement protobuf converters and the etcd record codecs."""

from __future__ import annotations

import pytest

from yatt.placement import convert
from yatt.placement.history import decode_move, encode_move
from yatt.placement.state import Move
from yatt.placement.store import decode_assignment, encode_assignment

pytestmark = pytest.mark.unit

MOVE = Move(3, "rollout", "reward", "reward waits", 12.5, {"rollout": 1.0, "reward": 40.0})


def test_move_round_trips_through_proto_and_etcd_record() -> None:
    assert convert.move_from_proto(convert.move_to_proto(MOVE)) == MOVE
    assert decode_move(encode_move(MOVE, "leader-1")) == MOVE


def test_assignments_round_trip() -> None:
    assignments = {0: "rollout", 1: "rollout+reward", 2: "reference"}
    msgs = convert.assignments_to_proto(assignments)
    assert [m.slot for m in msgs] == [0, 1, 2]
    assert convert.assignments_from_proto(msgs) == assignments
    assert decode_assignment(encode_assignment("rollout+reward", "me")) == "rollout+reward"
