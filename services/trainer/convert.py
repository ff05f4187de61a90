"""Protobuf <-> trainer domain objects, both ways: experience streams, replies, weight chunks.

ExperienceHeader.weight_version travels as the proto field `policy_version` (wire names stay).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping

import torch

from yatt.codec.meta import pack, unpack_map
from yatt.codec.tensor import TensorAssembler, iter_tensor_chunks
from yatt.errors import InvalidArgument
from yatt.protos import common_pb2, trainer_pb2
from yatt.services.trainer.core import CheckpointInfo, PushResult, TrainerState, WeightSnapshot
from yatt.services.trainer.experience import (
    Experience,
    ExperienceHeader,
    experience_from_tensors,
)
from yatt.transport import grpc as grpc_transport


def header_from_proto(msg: trainer_pb2.ExperienceHeader) -> ExperienceHeader:
    return ExperienceHeader(
        job=msg.job,
        shard_id=msg.shard_id,
        epoch=msg.epoch,
        weight_version=msg.policy_version,
        num_samples=msg.num_samples,
        metadata=unpack_map(msg.metadata, what=f"shard {msg.shard_id} metadata"),
    )


def header_to_proto(h: ExperienceHeader) -> trainer_pb2.ExperienceHeader:
    return trainer_pb2.ExperienceHeader(
        job=h.job,
        shard_id=h.shard_id,
        epoch=h.epoch,
        policy_version=h.weight_version,
        num_samples=h.num_samples,
        metadata=pack(h.metadata) if h.metadata else b"",
    )


async def experience_from_stream(
    messages: AsyncIterator[trainer_pb2.ExperienceChunk], max_bytes: int
) -> Experience:
    """Reads one PushExperience stream: a header, then tensor chunks until the end."""
    header: ExperienceHeader | None = None
    assembler = TensorAssembler(max_total_bytes=max_bytes)
    tensors: dict[str, torch.Tensor] = {}
    async for msg in messages:
        kind = msg.WhichOneof("item")
        if kind == "header":
            if header is not None:
                raise InvalidArgument("PushExperience: a second header in one stream")
            header = header_from_proto(msg.header)
        elif kind == "tensor":
            if header is None:
                raise InvalidArgument("PushExperience: tensor chunk before the header")
            done = assembler.feed(msg.tensor)
            if done is not None:
                tensors[done[0]] = done[1]
        else:
            raise InvalidArgument("PushExperience: empty message")
    if header is None:
        raise InvalidArgument("PushExperience: stream without a header")
    if assembler.incomplete():
        raise InvalidArgument(f"PushExperience: tensors cut short: {assembler.incomplete()}")
    return experience_from_tensors(header, tensors)


def experience_chunks(
    header: ExperienceHeader, tensors: Mapping[str, torch.Tensor], chunk_bytes: int
) -> Iterator[trainer_pb2.ExperienceChunk]:
    """The client side (controllers, tests): header first, then every tensor in chunks."""
    yield trainer_pb2.ExperienceChunk(header=header_to_proto(header))
    for name, tensor in tensors.items():
        for piece in iter_tensor_chunks(name, tensor, chunk_bytes):
            yield trainer_pb2.ExperienceChunk(tensor=piece)


def experience_to_stream(
    exp: Experience, chunk_bytes: int
) -> Iterator[trainer_pb2.ExperienceChunk]:
    return experience_chunks(exp.header, exp.tensors(), chunk_bytes)


def push_reply(r: PushResult) -> trainer_pb2.PushReply:
    return trainer_pb2.PushReply(
        stepped=r.stepped, step=r.step, weight_version=r.weight_version,
        pending_samples=r.pending_samples,
    )  # fmt: skip


def push_result_from_proto(m: trainer_pb2.PushReply) -> PushResult:
    return PushResult(m.stepped, m.step, m.weight_version, m.pending_samples)


def status_to_proto(s: TrainerState) -> trainer_pb2.TrainerStatus:
    return trainer_pb2.TrainerStatus(
        step=s.step,
        weight_version=s.weight_version,
        pending_samples=s.pending_samples,
        applied_shards=s.applied_shards,
        last_metrics=pack(s.last_metrics),
        ledger=pack(s.ledger),
    )


def status_from_proto(m: trainer_pb2.TrainerStatus) -> TrainerState:
    """The proto carries no epoch or checkpoint of its own: epoch comes from the ledger."""
    ledger = unpack_map(m.ledger, what="trainer status ledger")
    return TrainerState(
        step=m.step,
        weight_version=m.weight_version,
        pending_samples=m.pending_samples,
        applied_shards=m.applied_shards,
        epoch=int(ledger.get("epoch", 0)),
        last_metrics=unpack_map(m.last_metrics, what="trainer status metrics"),
        ledger=ledger,
    )


def checkpoint_reply(info: CheckpointInfo) -> trainer_pb2.CheckpointReply:
    return trainer_pb2.CheckpointReply(
        path=info.path, step=info.step, weight_version=info.weight_version
    )


def checkpoint_from_proto(m: trainer_pb2.CheckpointReply) -> CheckpointInfo:
    return CheckpointInfo(m.path, m.step, m.weight_version)


def weight_chunks(snapshot: WeightSnapshot, chunk_bytes: int) -> Iterator[common_pb2.WeightChunk]:
    """The WeightChunk stream of one snapshot (the grpc weight transport's framing)."""
    return grpc_transport.weight_chunks(snapshot.version, snapshot.tensors, chunk_bytes)


def weights_from_chunks(chunks: list[common_pb2.WeightChunk]) -> WeightSnapshot:
    """Reassembles a weight stream (clients and tests); InvalidArgument if inconsistent."""
    assembler = TensorAssembler()
    tensors: dict[str, torch.Tensor] = {}
    versions = {c.version for c in chunks}
    if len(versions) != 1:
        raise InvalidArgument(f"weight stream mixes versions {sorted(versions)}")
    for chunk in chunks:
        done = assembler.feed(chunk.tensor)
        if done is not None:
            tensors[done[0]] = done[1]
    if chunks and len(tensors) != chunks[0].tensor_count:
        raise InvalidArgument(
            f"weight stream has {len(tensors)} of {chunks[0].tensor_count} tensors"
        )
    return WeightSnapshot(versions.pop(), tensors)
