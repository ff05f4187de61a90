"""Round trips of every rollout converter, and the proto defaults they interpret."""

from __future__ import annotations

import pytest
import torch

from yatt.codec.tensor import iter_tensor_chunks
from yatt.errors import InvalidArgument
from yatt.protos import common_pb2, rollout_pb2
from yatt.services.rollout import convert
from yatt.services.rollout.core import Completion, GenerateRequest, PromptRequest, RolloutInfo
from yatt.services.rollout.engines.base import SamplingParams

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]


def test_request_round_trip() -> None:
    params = SamplingParams(0.5, 0.75, 7, 33, ("\n",), (3, 4), 2, 11)
    req = GenerateRequest([PromptRequest("a", "hi", (1, 2), b"\x01")], params, min_version=4)
    assert convert.request_from_proto(convert.request_to_proto(req)) == req
    no_params = GenerateRequest([PromptRequest("b", token_ids=(5,))])
    assert convert.request_from_proto(convert.request_to_proto(no_params)).params is None


def test_params_proto_defaults() -> None:
    p = convert.params_from_proto(rollout_pb2.SamplingParams(n=1, max_new_tokens=4))
    assert (p.temperature, p.top_p, p.top_k, p.seed) == (0.0, 1.0, 0, None)  # top_p 0 = off
    assert convert.params_from_proto(rollout_pb2.SamplingParams(seed=0)).seed == 0


def test_completion_info_round_trip() -> None:
    c = Completion("a", 1, "x", [1, 2], [3, 4], [-0.5, -0.25], 7, "stop")
    assert convert.completion_from_proto(convert.completion_to_proto(c)) == c
    info = RolloutInfo("hf", "/m", 3, 512, 704)
    assert convert.info_from_proto(convert.info_to_proto(info)) == info


async def _stream(chunks):
    for c in chunks:
        yield c


async def test_weights_from_chunks_reassembles_and_flags_truncation() -> None:
    t = torch.arange(1000, dtype=torch.float32).reshape(10, 100)
    chunks = [
        common_pb2.WeightChunk(version=2, tensor_count=1, tensor=c)
        for c in iter_tensor_chunks("w", t, chunk_bytes=1024)
    ]
    assert len(chunks) == 4
    out = [x async for x in convert.weights_from_chunks(_stream(chunks))]
    assert len(out) == 1 and out[0][:3] == (2, 1, "w") and torch.equal(out[0][3], t)
    with pytest.raises(InvalidArgument, match="ended inside tensors"):
        [x async for x in convert.weights_from_chunks(_stream(chunks[:2]))]
