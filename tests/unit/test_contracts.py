"""Member records: every record survives encode/decode, unknown keys are ignored, wrong types
are refused naming the field, and each role's key decodes as its own record."""

from __future__ import annotations

import pytest

from yatt.codec.meta import pack
from yatt.contracts import (
    ContractError,
    ControllerMember,
    PlacementMember,
    Record,
    ReferenceMember,
    RewardMember,
    RolloutMember,
    ServiceMember,
    TrainerMember,
    WorkerMember,
    WorkerState,
    decode_member,
)

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

COMMON = dict(
    endpoint="10.0.0.1:50051", role="x", instance="x-host-12", slot=2, pid=12,
    load={"queue_depth": 3.0, "in_flight": 1.0}, metrics_endpoint="10.0.0.1:9100",
)  # fmt: skip

RECORDS: list[Record] = [
    ServiceMember(**COMMON),  # type: ignore[arg-type]
    RolloutMember(
        **COMMON,
        engine="hf",
        model="/m",
        weight_version=4,
        host_id="h1",  # type: ignore[arg-type]
        weight_transports=["grpc", "shm"],
    ),  # fmt: skip
    TrainerMember(
        **COMMON,
        step=9,
        weight_version=9,
        metrics={"kl": 0.01, "loss": 1.5},  # type: ignore[arg-type]
        acked={"rollout-a": 9},
        weight_transports={"rollout-a": "shm"},
    ),  # fmt: skip
    RewardMember(**COMMON, functions=["exact_answer", "length_penalty"]),  # type: ignore[arg-type]
    ReferenceMember(**COMMON, model="/ref"),  # type: ignore[arg-type]
    PlacementMember(**COMMON, leader=True, candidate="p-1"),  # type: ignore[arg-type]
    ControllerMember(in_flight=2, done=17),
    WorkerMember(
        slot=1,
        role="reward",
        assigned="reward",
        state=WorkerState.SERVING,
        endpoints={"reward": "127.0.0.1:7"},
        endpoint="127.0.0.1:7",
        children={"reward": 99},
        pid=5,
        error="",
        since=1700000000.5,
    ),  # fmt: skip
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_every_record_round_trips(record: Record) -> None:
    assert type(record).decode(record.encode()) == record


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_unknown_keys_are_ignored(record: Record) -> None:
    newer = pack({**record.to_dict(), "added_in_a_later_version": {"any": ["thing"]}})
    assert type(record).decode(newer) == record


def test_missing_keys_take_defaults() -> None:
    assert RolloutMember.decode(pack({"endpoint": "h:1"})) == RolloutMember(endpoint="h:1")
    assert RolloutMember.decode(b"").weight_transports == ["grpc"]  # an older rollout


@pytest.mark.parametrize(
    ("cls", "raw", "field"),
    [
        (RolloutMember, {"weight_version": "4"}, "weight_version"),
        (TrainerMember, {"step": 1.5}, "step"),
        (TrainerMember, {"metrics": {"kl": "high"}}, "metrics"),
        (TrainerMember, {"acked": [1, 2]}, "acked"),
        (ServiceMember, {"slot": True}, "slot"),
        (RewardMember, {"functions": "exact"}, "functions"),
        (PlacementMember, {"leader": 1}, "leader"),
        (WorkerMember, {"state": "sleeping"}, "state"),
        (ControllerMember, {"done": None}, "done"),
    ],
)
def test_wrong_types_are_refused_naming_the_field(
    cls: type[Record], raw: dict[str, object], field: str
) -> None:
    with pytest.raises(ContractError, match=f"field '{field}'"):
        cls.decode(pack(raw), what="member test/x")


def test_garbage_and_non_maps_are_contract_errors() -> None:
    with pytest.raises(ContractError, match="not valid msgpack"):
        ServiceMember.decode(b"\xc1")
    with pytest.raises(ContractError, match="must be a msgpack map"):
        ServiceMember.decode(pack([1, 2]))


def test_ints_widen_to_float_and_enums_travel_as_their_value() -> None:
    assert TrainerMember.decode(pack({"metrics": {"kl": 0}})).metrics == {"kl": 0.0}
    worker = WorkerMember(state=WorkerState.DRAINING)
    assert worker.to_dict()["state"] == "draining"
    assert WorkerMember.decode(worker.encode()).state is WorkerState.DRAINING


def test_worker_serving_only_when_settled() -> None:
    assert WorkerMember(role="reward", state=WorkerState.SERVING).serving() == "reward"
    assert WorkerMember(role="reward", state=WorkerState.STARTING).serving() is None


@pytest.mark.parametrize(
    ("role", "cls"),
    [
        ("rollout", RolloutMember),
        ("trainer", TrainerMember),
        ("reward", RewardMember),
        ("reward-judge", RewardMember),
        ("reference", ReferenceMember),
        ("placement", PlacementMember),
        ("diagnostics", ServiceMember),
        ("controller", ControllerMember),
        ("worker", WorkerMember),
    ],
)
def test_each_role_decodes_as_its_record(role: str, cls: type[Record]) -> None:
    assert type(decode_member(role, pack({}))) is cls
