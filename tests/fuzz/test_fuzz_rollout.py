"""Fuzzes every RolloutService RPC (Generate, LoadWeights, Info) and Echo of one real rollout
process (hf engine, tiny model): proper status codes only, the process survives, RSS bounded."""

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
from conftest import FINDINGS, Fleet, Service, examples, rss_bytes
from hypothesis import example, given, settings
from hypothesis import strategies as st

from yatt.protos import common_pb2, rollout_pb2, rollout_pb2_grpc
from yatt.testing.fuzz import (
    INT32,
    INT64,
    broken,
    chunk_pieces,
    corrupt_chunk,
    edge_floats,
    edge_ints,
    garbage,
    iterate,
    messages,
    one_fault,
    texts,
)

SERVICE = "rollout"
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
VOCAB = 704  # the tiny preset's vocabulary; Info confirms it below
RSS_BOUND_MB = 200


@pytest.fixture(scope="module")
def svc(fleet: Fleet) -> Service:
    service = fleet.get(SERVICE)
    stub = rollout_pb2_grpc.RolloutServiceStub(service.channel)
    info = stub.Info(rollout_pb2.InfoRequest(), timeout=30)
    assert info.vocab_size == VOCAB
    prompt = common_pb2.Prompt(id="w", text="1+1=")
    params = rollout_pb2.SamplingParams(max_new_tokens=4, n=2)
    req = rollout_pb2.GenerateRequest(prompts=[prompt], params=params)
    return ready(service, lambda: list(stub.Generate(req, timeout=60)))


def stub(service: Service) -> rollout_pb2_grpc.RolloutServiceStub:
    return rollout_pb2_grpc.RolloutServiceStub(service.channel)


token_ids = st.one_of(
    st.lists(st.integers(0, VOCAB - 1), min_size=1, max_size=12),
    st.lists(edge_ints(*INT32), max_size=6),  # out-of-vocab, negative
)
prompts = st.builds(
    common_pb2.Prompt,
    id=st.one_of(st.sampled_from(["a", "b", ""]), texts(8)),  # duplicates and empty ids
    text=st.one_of(st.sampled_from(["12+7=", "3*4=", ""]), texts(40)),
    token_ids=st.one_of(st.just([]), token_ids),
    payload=st.binary(max_size=64),
)


params = one_fault(
    rollout_pb2.SamplingParams,
    valid=dict(
        temperature=st.floats(0, 2, width=32), top_p=st.floats(0, 1, width=32),
        top_k=st.integers(0, VOCAB + 2), max_new_tokens=st.integers(1, 6),
        stop=st.lists(st.text(min_size=1, max_size=4), max_size=2),
        stop_token_ids=st.lists(st.integers(0, VOCAB - 1), max_size=2),
        n=st.integers(1, 3), seed=st.none() | st.integers(0, 2**32),
    ),
    edge=dict(
        temperature=edge_floats(32), top_p=edge_floats(32), top_k=edge_ints(*INT32),
        max_new_tokens=edge_ints(*INT32), stop=st.lists(texts(6), max_size=3),
        stop_token_ids=st.lists(edge_ints(*INT32), min_size=1, max_size=3),
        n=edge_ints(*INT32), seed=edge_ints(*INT64),
    ),
)  # fmt: skip
valid_prompts = st.builds(
    common_pb2.Prompt,
    id=texts(8),
    text=st.sampled_from(["12+7=", "3*4=", "Hello"]),
    token_ids=st.one_of(st.just([]), st.lists(st.integers(0, VOCAB - 1), min_size=1, max_size=12)),
    payload=st.binary(max_size=64),
)
built_requests = one_fault(
    rollout_pb2.GenerateRequest,
    valid=dict(
        prompts=st.lists(valid_prompts, min_size=1, max_size=4, unique_by=lambda p: p.id),
        params=st.one_of(st.none(), params),
        min_version=st.just(0),
    ),
    edge=dict(
        prompts=st.lists(prompts, max_size=5),  # duplicates, empty, out of vocab, too long
        min_version=edge_ints(*INT64),
    ),
)
generate_requests = st.one_of(
    built_requests,
    built_requests,
    messages(rollout_pb2.GenerateRequest),
    garbage(rollout_pb2.GenerateRequest),
)
TINY_TEMPERATURE = rollout_pb2.GenerateRequest(
    prompts=[common_pb2.Prompt(id="t", token_ids=[5, 6, 7])],
    params=rollout_pb2.SamplingParams(temperature=1.4e-45, max_new_tokens=2, n=1),
)


@settings(max_examples=examples(80), **SETTINGS)
@given(request=generate_requests)
@example(request=TINY_TEMPERATURE)  # was INTERNAL: NaN probabilities in torch.multinomial
def test_generate(svc: Service, request: rollout_pb2.GenerateRequest | None) -> None:
    code, out = call(svc, "Generate", stub(svc).Generate, request, stream_reply=True)
    if (
        code == grpc.StatusCode.OK and out is not None
    ):  # whatever was accepted came back whole and in range
        for completion in out:
            assert all(0 <= t < VOCAB for t in completion.token_ids), completion


def spec(fleet: Fleet) -> dict[str, tuple[tuple[int, ...], str]]:
    import torch

    from yatt.models.weights import spec_from_dir

    tensors = spec_from_dir(str(fleet.tiny_model()), torch.float32).tensors
    return {name: (t.shape, "float32") for name, t in tensors.items()}


@st.composite
def weight_streams(draw: st.DrawFn, model: dict) -> list[common_pb2.WeightChunk]:
    """A weight stream (mostly the small tensors, sometimes all) with one fault injected."""
    import math

    names = sorted(model, key=lambda n: math.prod(model[n][0]))
    if draw(st.integers(0, 9)) == 0:
        chosen = list(model)
    else:
        chosen = draw(st.lists(st.sampled_from(names[:20] + ["bogus.weight", ""]), max_size=4))
    version = draw(st.one_of(st.integers(-1, 3), edge_ints(*INT64)))
    count = draw(st.one_of(st.just(len(model)), edge_ints(*INT32)))
    dtype = draw(st.sampled_from(["float32", "float32", "bfloat16", "float64"]))
    pieces = []
    size = 1 << 20 if len(chosen) == len(model) else draw(st.sampled_from([7, 512, 1 << 20]))
    for name in chosen:
        shape = model.get(name, ((3,), "float32"))[0]
        data = bytes(math.prod(shape) * {"float64": 8, "float32": 4, "bfloat16": 2}[dtype])
        pieces += chunk_pieces(name, dtype, shape, data, size)
    chunks = [common_pb2.WeightChunk(version=version, tensor_count=count, tensor=p) for p in pieces]
    if chunks and draw(st.booleans()):  # mixed versions inside one stream
        chunks[draw(st.integers(0, len(chunks) - 1))].version = version ^ 1

    def corrupt(chunk: common_pb2.WeightChunk) -> st.SearchStrategy[common_pb2.WeightChunk]:
        return corrupt_chunk(chunk.tensor).map(
            lambda t: common_pb2.WeightChunk(version=chunk.version, tensor_count=count, tensor=t)
        )

    return draw(broken(chunks, corrupt))


@pytest.fixture(scope="module")
def model_spec(fleet: Fleet) -> dict:
    return spec(fleet)


@settings(max_examples=examples(25), **SETTINGS)
@given(data=st.data())
def test_load_weights_broken_streams(svc: Service, model_spec: dict, data: st.DataObject) -> None:
    stream = data.draw(
        st.one_of(
            weight_streams(model_spec),
            st.lists(messages(common_pb2.WeightChunk), max_size=6),
            st.lists(garbage(common_pb2.WeightChunk).filter(lambda m: m is not None), max_size=4),
        )
    )
    call(
        svc,
        "LoadWeights",
        lambda s, timeout: stub(svc).LoadWeights(iterate(s), timeout=timeout),
        stream,
    )


def test_declared_huge_tensor_is_refused_before_allocation(svc: Service) -> None:
    """One 1-byte chunk declaring a 512 MiB tensor must not make the server allocate 512 MiB."""
    from _fuzz_client import peak_rss_mb

    before = peak_rss_mb(svc.proc.pid)
    chunk = common_pb2.TensorChunk(
        name="model.norm.weight", dtype="float32", shape=[128 << 20], offset=0,
        total_bytes=512 << 20, data=b"\0",
    )  # fmt: skip
    stream = [common_pb2.WeightChunk(version=99, tensor_count=50, tensor=chunk)]
    code, _ = call(
        svc,
        "LoadWeights",
        lambda s, timeout: stub(svc).LoadWeights(iterate(s), timeout=timeout),
        stream,
    )
    grew = peak_rss_mb(svc.proc.pid) - before
    FINDINGS.append(
        f"rollout LoadWeights declared 512 MiB tensor: {code.name}, peak RSS +{grew:.0f} MiB"
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert grew < 64, f"peak RSS grew {grew:.0f} MiB for a 1-byte chunk"


# Handles a manifest may name: an unreachable rendezvous (a port nothing listens on), a segment
# that does not exist, or any text.
handles = st.one_of(
    st.builds(lambda p: f"127.0.0.1:{p}/yatt-weights/x", st.integers(1024, 65535)),
    st.sampled_from(["/yatt-w-missing-0", "10.255.255.1:29500/k", ":/", "host:99999/k"]),
    texts(40),
)
entries = st.lists(
    st.builds(common_pb2.WeightEntry, name=texts(8), dtype=st.sampled_from(["float32", "int8", "x"]),
              shape=st.lists(edge_ints(*INT64), max_size=4), offset=edge_ints(*INT64),
              nbytes=edge_ints(*INT64)),
    max_size=3,
)  # fmt: skip
manifests = st.one_of(
    st.builds(common_pb2.WeightManifest, version=edge_ints(*INT64),
              transport=st.one_of(st.sampled_from(["nccl", "shm", "grpc"]), texts(8)),
              handle=handles, total_bytes=edge_ints(*INT64), checksum=texts(16), entries=entries),
    messages(common_pb2.WeightManifest), garbage(common_pb2.WeightManifest),
)  # fmt: skip


@settings(max_examples=examples(25), **SETTINGS)
@given(request=manifests)
def test_load_weights_from_manifest(
    svc: Service, request: common_pb2.WeightManifest | None
) -> None:
    """Refused promptly (never past the deadline), whatever the handle names."""
    call(svc, "LoadWeightsFromManifest", stub(svc).LoadWeightsFromManifest, request,
         forbid=[grpc.StatusCode.DEADLINE_EXCEEDED])  # fmt: skip


@settings(max_examples=examples(15), **SETTINGS)
@given(request=st.one_of(messages(rollout_pb2.InfoRequest), garbage(rollout_pb2.InfoRequest)))
def test_info(svc: Service, request: rollout_pb2.InfoRequest | None) -> None:
    call(svc, "Info", stub(svc).Info, request)


@settings(max_examples=examples(40), **SETTINGS)
@given(request=echo_requests())
def test_echo(svc: Service, request: object) -> None:
    echo(svc, request)


def test_echo_hold_is_cancelled(svc: Service) -> None:
    echo_hold_is_cancelled(svc)


def test_rollout_survives_with_bounded_memory(svc: Service) -> None:
    req = rollout_pb2.GenerateRequest(
        prompts=[common_pb2.Prompt(id="x", text="3*4=")],
        params=rollout_pb2.SamplingParams(max_new_tokens=3, temperature=0.0, n=1),
    )
    answer = lambda: list(stub(svc).Generate(req, timeout=30))  # noqa: E731
    FINDINGS.append(assert_alive_and_bounded(svc, answer, RSS_BOUND_MB))
    assert rss_bytes(svc.proc.pid) > 0
