"""Rollout protobuf <-> domain objects, both ways (servers use one side, clients the other).

The protos call the weight version `policy_version` (Completion, RolloutInfo) and `version`
(LoadWeightsReply); the domain objects call it `weight_version`. Wire names stay.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING

import torch

from yatt.codec.tensor import TensorAssembler, parse_dtype
from yatt.defaults import CHUNK_BYTES
from yatt.errors import InvalidArgument
from yatt.protos import common_pb2, rollout_pb2
from yatt.transport import grpc as grpc_transport
from yatt.transport.base import Delivery

# Manifest converters live with the transports (shared by trainer and rollout); re-exported.
from yatt.transport.manifest import manifest_from_proto, manifest_to_proto  # noqa: F401

from .core import Completion, GenerateRequest, PromptRequest, RolloutInfo
from .engines.base import SamplingParams

if TYPE_CHECKING:  # transformers-heavy; clients of this module do not need it
    from yatt.models.weights import WeightSpec


def params_from_proto(msg: rollout_pb2.SamplingParams) -> SamplingParams:
    """Taken literally (n=0 stays 0 and is refused), except top_p 0, which means "disabled"."""
    return SamplingParams(
        temperature=msg.temperature,
        top_p=msg.top_p if msg.top_p > 0 else 1.0,
        top_k=msg.top_k,
        max_new_tokens=msg.max_new_tokens,
        stop=tuple(msg.stop),
        stop_token_ids=tuple(msg.stop_token_ids),
        n=msg.n,
        seed=msg.seed if msg.HasField("seed") else None,
    )


def params_to_proto(p: SamplingParams) -> rollout_pb2.SamplingParams:
    return rollout_pb2.SamplingParams(
        temperature=p.temperature,
        top_p=p.top_p,
        top_k=p.top_k,
        max_new_tokens=p.max_new_tokens,
        stop=list(p.stop),
        stop_token_ids=list(p.stop_token_ids),
        n=p.n,
        seed=p.seed,
    )


def request_from_proto(msg: rollout_pb2.GenerateRequest) -> GenerateRequest:
    prompts = [
        PromptRequest(p.id, p.text, tuple(p.token_ids), bytes(p.payload)) for p in msg.prompts
    ]
    params = params_from_proto(msg.params) if msg.HasField("params") else None
    return GenerateRequest(prompts, params, msg.min_version)


def request_to_proto(r: GenerateRequest) -> rollout_pb2.GenerateRequest:
    prompts = [
        common_pb2.Prompt(id=p.id, text=p.text, token_ids=list(p.token_ids), payload=p.payload)
        for p in r.prompts
    ]
    params = None if r.params is None else params_to_proto(r.params)
    return rollout_pb2.GenerateRequest(prompts=prompts, params=params, min_version=r.min_version)


def completion_to_proto(c: Completion) -> rollout_pb2.Completion:
    return rollout_pb2.Completion(
        prompt_id=c.prompt_id,
        index=c.index,
        text=c.text,
        prompt_token_ids=c.prompt_token_ids,
        token_ids=c.token_ids,
        logprobs=c.logprobs,
        policy_version=c.weight_version,
        finish_reason=c.finish_reason,
    )


def completion_from_proto(m: rollout_pb2.Completion) -> Completion:
    return Completion(
        prompt_id=m.prompt_id,
        index=m.index,
        text=m.text,
        prompt_token_ids=list(m.prompt_token_ids),
        token_ids=list(m.token_ids),
        logprobs=list(m.logprobs),
        weight_version=m.policy_version,
        finish_reason=m.finish_reason,
    )


def info_to_proto(i: RolloutInfo) -> rollout_pb2.RolloutInfo:
    return rollout_pb2.RolloutInfo(
        engine=i.engine,
        model=i.model,
        policy_version=i.weight_version,
        max_model_len=i.max_model_len,
        vocab_size=i.vocab_size,
    )


def info_from_proto(m: rollout_pb2.RolloutInfo) -> RolloutInfo:
    return RolloutInfo(m.engine, m.model, m.policy_version, m.max_model_len, m.vocab_size)


def load_result_to_proto(r: Delivery) -> rollout_pb2.LoadWeightsReply:
    return rollout_pb2.LoadWeightsReply(version=r.weight_version, tensors=r.tensors, bytes=r.bytes)


def load_result_from_proto(m: rollout_pb2.LoadWeightsReply) -> Delivery:
    return Delivery(m.version, m.tensors, m.bytes)


async def weights_from_chunks(
    chunks: AsyncIterator[common_pb2.WeightChunk], spec: WeightSpec | None = None
) -> AsyncIterator[tuple[int, int, str, torch.Tensor]]:
    """(version, tensor_count, name, tensor) for each tensor once all its chunks are in.

    With spec, a tensor's first chunk is checked against the model before the assembler
    allocates its declared size, so a bogus header cannot make the server allocate memory.
    """
    assembler = TensorAssembler()
    checked: set[str] = set()
    async for chunk in chunks:
        piece = chunk.tensor
        if spec is not None and piece.name not in checked:
            dtype = parse_dtype(piece.dtype, what=f"tensor {piece.name!r}")
            spec.check_one(piece.name, tuple(piece.shape), dtype)
            checked.add(piece.name)
        done = assembler.feed(piece)
        if done is not None:
            yield chunk.version, chunk.tensor_count, done[0], done[1]
    if assembler.incomplete():
        raise InvalidArgument(f"weight stream ended inside tensors {assembler.incomplete()[:10]}")


def weight_chunks(
    weights: Mapping[str, torch.Tensor], version: int, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[common_pb2.WeightChunk]:
    """The LoadWeights request stream for a whole state dict (the grpc weight transport's framing)."""
    return grpc_transport.weight_chunks(version, weights, chunk_bytes)
