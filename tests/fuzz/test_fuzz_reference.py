"""Fuzzes ReferenceService.LogProbs and Echo of one real reference process (tiny model):
out-of-vocab ids, bad prompt_len, too long or too many sequences; proper codes, bounded RSS."""

from __future__ import annotations

import grpc
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

from yatt.protos import reference_pb2, reference_pb2_grpc
from yatt.testing.fuzz import INT32, edge_ints, garbage, messages, texts

SERVICE = "reference"
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
VOCAB = 704
MAX_SEQUENCES = 64  # the fuzzed process's max_sequences (conftest)
RSS_BOUND_MB = 200


def stub(service: Service) -> reference_pb2_grpc.ReferenceServiceStub:
    return reference_pb2_grpc.ReferenceServiceStub(service.channel)


def valid_request() -> reference_pb2.LogProbsRequest:
    seq = reference_pb2.TokenSequence(id="a", token_ids=[5, 6, 7, 8], prompt_len=2)
    return reference_pb2.LogProbsRequest(sequences=[seq])


@pytest.fixture(scope="module")
def svc(fleet: Fleet) -> Service:
    service = fleet.get(SERVICE)
    return ready(service, lambda: stub(service).LogProbs(valid_request(), timeout=30))


def mostly(valid: st.SearchStrategy, edge: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(valid, valid, valid, edge)


valid_sequences = st.lists(st.integers(0, VOCAB - 1), min_size=2, max_size=40).flatmap(
    lambda ids: st.builds(
        reference_pb2.TokenSequence,
        id=texts(8),
        token_ids=st.just(ids),
        prompt_len=st.integers(1, len(ids) - 1),
    )
)
bad_sequences = st.builds(
    reference_pb2.TokenSequence,
    id=st.one_of(st.sampled_from(["a", "b", ""]), texts(8)),
    token_ids=st.one_of(
        st.lists(st.integers(0, VOCAB - 1), max_size=8),
        st.lists(edge_ints(*INT32), max_size=8),
        st.integers(500, 2000).map(lambda n: [1] * n),  # past the model's positions
    ),
    prompt_len=st.one_of(st.integers(-1, 10), edge_ints(*INT32)),
)
sequences = mostly(valid_sequences, bad_sequences)
requests = st.one_of(
    st.builds(reference_pb2.LogProbsRequest, sequences=st.lists(sequences, max_size=5)),
    st.builds(
        reference_pb2.LogProbsRequest,
        sequences=st.lists(sequences, min_size=1, max_size=5, unique_by=lambda s: s.id),
    ),
    st.integers(MAX_SEQUENCES - 1, MAX_SEQUENCES + 2).map(
        lambda n: reference_pb2.LogProbsRequest(
            sequences=[
                reference_pb2.TokenSequence(id=str(i), token_ids=[1, 2], prompt_len=1)
                for i in range(n)
            ]
        )
    ),
    messages(reference_pb2.LogProbsRequest),
    garbage(reference_pb2.LogProbsRequest),
)


@settings(max_examples=examples(150), **SETTINGS)
@given(request=requests)
def test_logprobs(svc: Service, request: reference_pb2.LogProbsRequest | None) -> None:
    code, reply = call(svc, "LogProbs", stub(svc).LogProbs, request)
    if code == grpc.StatusCode.OK and reply is not None:
        assert len(reply.sequences) == len(request.sequences)
        for seq, out in zip(request.sequences, reply.sequences, strict=True):
            assert len(out.logprobs) == len(seq.token_ids) - seq.prompt_len
            assert all(lp <= 0 for lp in out.logprobs)


@settings(max_examples=examples(40), **SETTINGS)
@given(request=echo_requests())
def test_echo(svc: Service, request: object) -> None:
    echo(svc, request)


def test_echo_hold_is_cancelled(svc: Service) -> None:
    echo_hold_is_cancelled(svc)


def test_reference_survives_with_bounded_memory(svc: Service) -> None:
    def answer() -> None:
        assert len(stub(svc).LogProbs(valid_request(), timeout=30).sequences[0].logprobs) == 2

    FINDINGS.append(assert_alive_and_bounded(svc, answer, RSS_BOUND_MB))
