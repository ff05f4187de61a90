"""Fuzzes RewardService.Score and Echo of one real reward process (exact_answer, regex_format,
length_penalty): garbage msgpack metadata, odd ids and texts, oversized batches; no crashes."""

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
from yatt.protos import reward_pb2, reward_pb2_grpc
from yatt.testing.fuzz import (
    INT32,
    edge_ints,
    garbage,
    messages,
    msgpack_blobs,
    one_fault,
    texts,
)

SERVICE = "reward"
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
MAX_BATCH = 64  # the fuzzed process's max_batch (conftest)
RSS_BOUND_MB = 100


def stub(service: Service) -> reward_pb2_grpc.RewardServiceStub:
    return reward_pb2_grpc.RewardServiceStub(service.channel)


def valid_request() -> reward_pb2.ScoreRequest:
    sample = reward_pb2.ScoreSample(
        id="a",
        prompt="7+12=",
        completion="\\boxed{19}",
        metadata=pack({"answer": "19"}),
        completion_token_ids=[1, 2, 3],
    )
    return reward_pb2.ScoreRequest(samples=[sample])


@pytest.fixture(scope="module")
def svc(fleet: Fleet) -> Service:
    service = fleet.get(SERVICE)
    return ready(service, lambda: stub(service).Score(valid_request(), timeout=30))


answers = st.one_of(
    st.text(max_size=8),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.none(),
    st.lists(st.integers(-99, 99), max_size=3),
)
metadata = st.one_of(
    st.dictionaries(st.sampled_from(["answer", "answers", "x"]), answers, max_size=2).map(pack),
    msgpack_blobs(),
)
samples = one_fault(
    reward_pb2.ScoreSample,
    valid=dict(
        id=texts(8),
        prompt=st.sampled_from(["7+12=", ""]),
        completion=st.sampled_from(["\\boxed{19}", "19", "the answer is 18", ""]),
        metadata=st.dictionaries(st.just("answer"), answers, min_size=1).map(pack),
        payload=st.binary(max_size=64),
        completion_token_ids=st.lists(st.integers(0, 1000), min_size=1, max_size=20),
    ),
    edge=dict(
        id=st.sampled_from(["a", "a", ""]),
        prompt=texts(40),
        completion=st.one_of(st.sampled_from(["\\boxed{", "}" * 50]), texts(80)),
        metadata=st.one_of(metadata, msgpack_blobs()),
        completion_token_ids=st.lists(edge_ints(*INT32), max_size=20),
    ),
)
requests = st.one_of(
    st.builds(reward_pb2.ScoreRequest, samples=st.lists(samples, max_size=6)),
    st.builds(reward_pb2.ScoreRequest, samples=st.lists(samples, max_size=6)),
    st.integers(MAX_BATCH - 1, MAX_BATCH + 2).map(  # around the batch limit
        lambda n: reward_pb2.ScoreRequest(
            samples=[reward_pb2.ScoreSample(id=str(i), completion_token_ids=[1]) for i in range(n)]
        )
    ),
    messages(reward_pb2.ScoreRequest),
    garbage(reward_pb2.ScoreRequest),
)


@settings(max_examples=examples(150), **SETTINGS)
@given(request=requests)
def test_score(svc: Service, request: reward_pb2.ScoreRequest | None) -> None:
    import grpc

    code, reply = call(svc, "Score", stub(svc).Score, request)
    if code == grpc.StatusCode.OK and reply is not None:
        assert len(reply.scores) == len(request.samples)


def test_score_oversized_message_is_refused(svc: Service) -> None:
    """A 70 MB request is over the server's 64 MiB limit: RESOURCE_EXHAUSTED, nothing held."""
    import grpc

    big = reward_pb2.ScoreRequest(
        samples=[reward_pb2.ScoreSample(id="x", completion="y" * (70 << 20))]
    )
    code, _ = call(svc, "Score", stub(svc).Score, big)
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED


@settings(max_examples=examples(60), **SETTINGS)
@given(request=echo_requests())
def test_echo(svc: Service, request: object) -> None:
    echo(svc, request)


def test_echo_hold_is_cancelled(svc: Service) -> None:
    echo_hold_is_cancelled(svc)


def test_reward_survives_with_bounded_memory(svc: Service) -> None:
    def answer() -> None:
        reply = stub(svc).Score(valid_request(), timeout=30)
        assert reply.scores[0].components["exact_answer"] == 1.0

    FINDINGS.append(assert_alive_and_bounded(svc, answer, RSS_BOUND_MB))
