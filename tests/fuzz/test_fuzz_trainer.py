"""Fuzzes every TrainerService RPC (PushExperience, GetWeights, Checkpoint, Status) and Echo of
one real trainer process (DeepSpeed on CPU, tiny model): broken experience streams, bad headers."""

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

from yatt.codec.meta import pack
from yatt.protos import trainer_pb2, trainer_pb2_grpc
from yatt.testing.fuzz import (
    INT32,
    INT64,
    broken,
    corrupt_chunk,
    edge_ints,
    garbage,
    iterate,
    messages,
    msgpack_blobs,
    one_fault,
    texts,
)

SERVICE = "trainer"
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
VOCAB = 704
RSS_BOUND_MB = 300  # the trainer grows optimizer state on its first steps


def stub(service: Service) -> trainer_pb2_grpc.TrainerServiceStub:
    return trainer_pb2_grpc.TrainerServiceStub(service.channel)


@pytest.fixture(scope="module")
def svc(fleet: Fleet) -> Service:
    service = fleet.get(SERVICE)
    return ready(
        service, lambda: stub(service).Status(trainer_pb2.TrainerStatusRequest(), timeout=30)
    )


def mostly(valid: st.SearchStrategy, edge: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(valid, valid, valid, edge)


def experience_tensors(n: int, length: int, seed: int) -> dict:
    """Tensors of one valid shard (the lead's PushExperience convention)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    loss_mask = torch.zeros(n, length)
    loss_mask[:, length // 2 :] = 1.0
    old = -(5.0 + torch.rand(n, length, generator=g)) * loss_mask
    return {
        "input_ids": torch.randint(2, VOCAB, (n, length), generator=g),
        "attention_mask": torch.ones(n, length, dtype=torch.int64),
        "loss_mask": loss_mask,
        "old_logprobs": old,
        "ref_logprobs": old + 0.1 * loss_mask,
        "advantages": torch.randn(n, 1, generator=g) * loss_mask,
        "rewards": torch.randn(n, generator=g),
    }


@st.composite
def push_streams(draw: st.DrawFn) -> list[trainer_pb2.ExperienceChunk]:
    from yatt.codec.tensor import iter_tensor_chunks

    n = draw(st.integers(1, 4))
    fault = draw(st.sampled_from(["none", "none", "header", "tensor", "missing", "stream"]))
    valid = dict(
        job=st.just("default"), shard_id=st.integers(0, 10**9).map(lambda i: f"0/{i}"),
        epoch=st.just(0), policy_version=st.just(0), num_samples=st.just(n),
        metadata=st.just(b"")
        | st.dictionaries(st.text(max_size=4), st.integers(-9, 9), max_size=2).map(pack),
    )  # fmt: skip
    edge = dict(
        job=texts(8), shard_id=texts(10), epoch=edge_ints(*INT32), policy_version=edge_ints(*INT64),
        num_samples=edge_ints(*INT32), metadata=msgpack_blobs(),
    )  # fmt: skip
    header = draw(one_fault(trainer_pb2.ExperienceHeader, valid, edge if fault == "header" else {}))
    tensors = experience_tensors(n, draw(st.integers(2, 8)), draw(st.integers(0, 100)))
    if fault == "tensor":  # a wrong dtype or shape in one tensor
        import torch

        name = draw(st.sampled_from(sorted(tensors)))
        t = tensors[name]
        tensors[name] = draw(
            st.sampled_from([t.double(), t[None], torch.zeros(0), t.to(torch.int8)])
        )
    if fault == "missing":
        del tensors[draw(st.sampled_from(sorted(tensors)))]
    size = draw(st.sampled_from([5, 64, 1 << 16]))
    chunks = [trainer_pb2.ExperienceChunk(header=header)]
    for name, tensor in tensors.items():
        chunks += [
            trainer_pb2.ExperienceChunk(tensor=p) for p in iter_tensor_chunks(name, tensor, size)
        ]

    def corrupt(item: trainer_pb2.ExperienceChunk) -> st.SearchStrategy:
        if item.WhichOneof("item") != "tensor":
            return st.one_of(
                st.just(trainer_pb2.ExperienceChunk()),
                messages(trainer_pb2.ExperienceChunk, depth=2),
            )
        return corrupt_chunk(item.tensor).map(lambda t: trainer_pb2.ExperienceChunk(tensor=t))

    return draw(broken(chunks, corrupt)) if fault == "stream" else chunks


@settings(max_examples=examples(40), **SETTINGS)
@given(
    stream=st.one_of(
        push_streams(),
        push_streams(),
        st.lists(messages(trainer_pb2.ExperienceChunk, depth=2), max_size=5),
    )
)
def test_push_experience(svc: Service, stream: list) -> None:
    push = lambda s, timeout: stub(svc).PushExperience(iterate(s), timeout=timeout)  # noqa: E731
    call(svc, "PushExperience", push, stream)


@settings(max_examples=examples(30), **SETTINGS)
@given(request=st.one_of(
    st.builds(trainer_pb2.GetWeightsRequest, min_version=mostly(st.just(0), edge_ints(*INT64)),
              chunk_bytes=mostly(st.sampled_from([0, 4096, 1 << 20]), edge_ints(*INT64))),
    messages(trainer_pb2.GetWeightsRequest), garbage(trainer_pb2.GetWeightsRequest),
))  # fmt: skip
def test_get_weights(svc: Service, request: trainer_pb2.GetWeightsRequest | None) -> None:
    if request is None:
        return call(svc, "GetWeights", None, None) and None
    version = stub(svc).Status(trainer_pb2.TrainerStatusRequest(), timeout=30).weight_version
    if request.min_version == version + 1:  # waits for the next version: the deadline ends it
        code, _ = call(
            svc, "GetWeights", stub(svc).GetWeights, request, stream_reply=True, timeout=0.5
        )
        assert code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INVALID_ARGUMENT)
    elif request.min_version > version + 1:  # refused at once, never held to the deadline
        code, _ = call(svc, "GetWeights", stub(svc).GetWeights, request, stream_reply=True,
                       forbid=[grpc.StatusCode.DEADLINE_EXCEEDED])  # fmt: skip
        assert code == grpc.StatusCode.INVALID_ARGUMENT
    else:  # a version that exists must stream promptly or be refused, never spin to the deadline
        # (a tiny chunk_bytes is clamped by the server, so it streams promptly too)
        call(svc, "GetWeights", stub(svc).GetWeights, request, stream_reply=True,
             forbid=[grpc.StatusCode.DEADLINE_EXCEEDED])  # fmt: skip


@settings(max_examples=examples(6), **SETTINGS)
@given(
    request=st.one_of(
        st.builds(trainer_pb2.CheckpointRequest, tag=texts(20)),
        garbage(trainer_pb2.CheckpointRequest),
    )
)
def test_checkpoint(svc: Service, request: trainer_pb2.CheckpointRequest | None) -> None:
    call(svc, "Checkpoint", stub(svc).Checkpoint, request, timeout=60)


@settings(max_examples=examples(20), **SETTINGS)
@given(
    request=st.one_of(
        messages(trainer_pb2.TrainerStatusRequest), garbage(trainer_pb2.TrainerStatusRequest)
    )
)
def test_status(svc: Service, request: trainer_pb2.TrainerStatusRequest | None) -> None:
    call(svc, "Status", stub(svc).Status, request)


@settings(max_examples=examples(30), **SETTINGS)
@given(request=echo_requests())
def test_echo(svc: Service, request: object) -> None:
    echo(svc, request)


def test_echo_hold_is_cancelled(svc: Service) -> None:
    echo_hold_is_cancelled(svc)


def test_trainer_survives_with_bounded_memory(svc: Service) -> None:
    def answer() -> None:
        status = stub(svc).Status(trainer_pb2.TrainerStatusRequest(), timeout=30)
        FINDINGS.append(
            f"trainer after fuzz: step {status.step}, applied shards {status.applied_shards}"
        )

    FINDINGS.append(assert_alive_and_bounded(svc, answer, RSS_BOUND_MB))
