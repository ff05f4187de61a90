"""Protobuf <-> domain conversions of the reward service, and nothing else.

Metadata and details travel as msgpack bytes; garbage metadata is INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import Sequence

from yatt.codec.meta import pack, unpack, unpack_map
from yatt.protos import reward_pb2

from .plugins.base import RewardResult, RewardSample


def sample_from_proto(msg: reward_pb2.ScoreSample, where: str = "samples.0") -> RewardSample:
    metadata = unpack_map(msg.metadata, what=f"{where}.metadata")
    return RewardSample(
        id=msg.id,
        prompt=msg.prompt,
        completion=msg.completion,
        metadata=metadata,
        payload=msg.payload,
        completion_token_ids=tuple(msg.completion_token_ids),
    )


def sample_to_proto(sample: RewardSample) -> reward_pb2.ScoreSample:
    return reward_pb2.ScoreSample(
        id=sample.id,
        prompt=sample.prompt,
        completion=sample.completion,
        metadata=pack(sample.metadata) if sample.metadata else b"",
        payload=sample.payload,
        completion_token_ids=list(sample.completion_token_ids),
    )


def request_from_proto(msg: reward_pb2.ScoreRequest) -> list[RewardSample]:
    return [sample_from_proto(s, f"samples.{i}") for i, s in enumerate(msg.samples)]


def request_to_proto(samples: Sequence[RewardSample]) -> reward_pb2.ScoreRequest:
    return reward_pb2.ScoreRequest(samples=[sample_to_proto(s) for s in samples])


def score_to_proto(sample_id: str, result: RewardResult) -> reward_pb2.SampleScore:
    return reward_pb2.SampleScore(
        id=sample_id,
        total=result.total,
        components=result.components,
        details=pack(result.details) if result.details else b"",
    )


def score_from_proto(msg: reward_pb2.SampleScore) -> tuple[str, RewardResult]:
    details = unpack(msg.details, what="details", default={})
    return msg.id, RewardResult(total=msg.total, components=dict(msg.components), details=details)


def reply_to_proto(
    samples: Sequence[RewardSample], results: Sequence[RewardResult]
) -> reward_pb2.ScoreReply:
    return reward_pb2.ScoreReply(
        scores=[score_to_proto(s.id, r) for s, r in zip(samples, results, strict=True)]
    )


def reply_from_proto(msg: reward_pb2.ScoreReply) -> list[tuple[str, RewardResult]]:
    return [score_from_proto(s) for s in msg.scores]
