"""Fuzzes every PlacementService RPC (Plan, Status, SetPolicy) and Echo of one real placement
process (leader of a 4-slot job on a real etcd): garbage policy params, unknown policies."""

from __future__ import annotations

import pytest
from _fuzz_client import (
    SETTINGS,
    assert_alive_and_bounded,
    call,
    echo,
    echo_hold_is_cancelled,
    echo_requests,
    ready,
)
from conftest import FINDINGS, Fleet, Service, examples
from hypothesis import given, settings
from hypothesis import strategies as st

from yatt.codec.meta import pack
from yatt.protos import placement_pb2, placement_pb2_grpc
from yatt.testing.fuzz import edge_floats, edge_ints, garbage, messages, msgpack_blobs, texts

SERVICE = "placement"
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
RSS_BOUND_MB = 60


def stub(service: Service) -> placement_pb2_grpc.PlacementServiceStub:
    return placement_pb2_grpc.PlacementServiceStub(service.channel)


@pytest.fixture(scope="module")
def svc(fleet: Fleet) -> Service:
    service = fleet.get(SERVICE)
    service.proc.wait_for_line("yatt placement leading job", timeout=60)
    return ready(
        service, lambda: stub(service).Status(placement_pb2.PlacementStatusRequest(), timeout=30)
    )


param_values = st.one_of(
    edge_floats(), edge_ints(-(2**63), 2**63 - 1), texts(8), st.none(), st.booleans()
)
param_maps = st.dictionaries(
    st.sampled_from(["threshold", "cooldown_s", "min_gain", "x", ""]), param_values, max_size=3
).map(pack)
set_policy = st.one_of(
    st.builds(
        placement_pb2.SetPolicyRequest,
        policy=st.one_of(st.sampled_from(["queue_balance", "static", ""]), texts(12)),
        params=st.one_of(param_maps, msgpack_blobs()),
    ),
    messages(placement_pb2.SetPolicyRequest),
    garbage(placement_pb2.SetPolicyRequest),
)


@settings(max_examples=examples(120), **SETTINGS)
@given(request=set_policy)
def test_set_policy(svc: Service, request: placement_pb2.SetPolicyRequest | None) -> None:
    call(svc, "SetPolicy", stub(svc).SetPolicy, request)


@settings(max_examples=examples(30), **SETTINGS)
@given(request=st.one_of(messages(placement_pb2.PlanRequest), garbage(placement_pb2.PlanRequest)))
def test_plan(svc: Service, request: placement_pb2.PlanRequest | None) -> None:
    call(svc, "Plan", stub(svc).Plan, request)


@settings(max_examples=examples(20), **SETTINGS)
@given(
    request=st.one_of(
        messages(placement_pb2.PlacementStatusRequest),
        garbage(placement_pb2.PlacementStatusRequest),
    )
)
def test_status(svc: Service, request: placement_pb2.PlacementStatusRequest | None) -> None:
    call(svc, "Status", stub(svc).Status, request)


@settings(max_examples=examples(30), **SETTINGS)
@given(request=echo_requests())
def test_echo(svc: Service, request: object) -> None:
    echo(svc, request)


def test_echo_hold_is_cancelled(svc: Service) -> None:
    echo_hold_is_cancelled(svc)


def test_placement_survives_with_bounded_memory(svc: Service) -> None:
    def answer() -> None:
        status = stub(svc).Status(placement_pb2.PlacementStatusRequest(), timeout=30)
        assert len(status.assignments) == 4 and status.leader

    FINDINGS.append(assert_alive_and_bounded(svc, answer, RSS_BOUND_MB))
