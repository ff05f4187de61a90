"""The controller's calls to rollout, reward, reference and trainer: protobuf stays in here.

Each function takes and returns plain Python / domain objects; RolePool does the failover.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc
import torch

from yatt.codec.meta import pack
from yatt.codec.tensor import iter_tensor_chunks
from yatt.controller.config import ControllerSettings, SamplingConfig
from yatt.controller.dataset import PromptRow
from yatt.controller.pool import Member, RolePool
from yatt.controller.sample import Sample
from yatt.protos import (
    common_pb2,
    reference_pb2,
    reference_pb2_grpc,
    reward_pb2,
    reward_pb2_grpc,
    rollout_pb2,
    rollout_pb2_grpc,
    trainer_pb2,
    trainer_pb2_grpc,
)


def _policy(settings: ControllerSettings) -> dict[str, Any]:
    return {
        "attempts": settings.max_attempts,
        "backoff_s": settings.backoff_s,
        "wait_s": settings.call_timeout_s,
    }


async def generate(
    pool: RolePool,
    rows: Sequence[PromptRow],
    sampling: SamplingConfig,
    seed: int,
    min_version: int,
    settings: ControllerSettings,
    accept: Callable[[Member], bool] | None = None,
) -> list[Sample]:
    """n completions per row; the whole request moves to another instance on failure."""
    request = rollout_pb2.GenerateRequest(
        prompts=[common_pb2.Prompt(id=r.id, text=r.text, payload=r.payload) for r in rows],
        params=rollout_pb2.SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            max_new_tokens=sampling.max_new_tokens,
            stop=sampling.stop,
            n=sampling.n,
            seed=seed,
        ),
        min_version=min_version,
    )
    by_id = {r.id: (group, r) for group, r in enumerate(rows)}

    async def call(channel: grpc.aio.Channel, _: Member) -> list[Sample]:
        stub = rollout_pb2_grpc.RolloutServiceStub(channel)
        out = []
        async for c in stub.Generate(request, timeout=settings.call_timeout_s):
            group, row = by_id[c.prompt_id]
            out.append(
                Sample(
                    prompt_id=c.prompt_id,
                    index=c.index,
                    group=group,
                    prompt_text=row.text,
                    metadata=row.metadata,
                    payload=row.payload,
                    prompt_token_ids=list(c.prompt_token_ids),
                    token_ids=list(c.token_ids),
                    logprobs=list(c.logprobs),
                    text=c.text,
                    policy_version=c.policy_version,
                    finish_reason=c.finish_reason,
                )
            )
        return out

    samples = await pool.call(call, accept=accept, **_policy(settings))
    expected = len(rows) * sampling.n
    if len(samples) != expected:
        raise RuntimeError(f"rollout returned {len(samples)} completions, expected {expected}")
    return sorted(samples, key=lambda s: (s.group, s.index))


async def score(
    pool: RolePool, samples: Sequence[Sample], settings: ControllerSettings
) -> list[tuple[float, dict[str, float]]]:
    """(total, components) per sample from one reward role."""
    request = reward_pb2.ScoreRequest(
        samples=[
            reward_pb2.ScoreSample(
                id=s.key,
                prompt=s.prompt_text,
                completion=s.text,
                metadata=pack(s.metadata),
                payload=s.payload,
                completion_token_ids=s.token_ids,
            )
            for s in samples
        ]
    )

    async def call(channel: grpc.aio.Channel, _: Member) -> reward_pb2.ScoreReply:
        stub = reward_pb2_grpc.RewardServiceStub(channel)
        return await stub.Score(request, timeout=settings.call_timeout_s)

    reply = await pool.call(call, **_policy(settings))
    by_id = {s.id: s for s in reply.scores}
    missing = [s.key for s in samples if s.key not in by_id]
    if missing:
        raise RuntimeError(f"{pool.role} returned no score for {missing[:3]}")
    return [(by_id[s.key].total, dict(by_id[s.key].components)) for s in samples]


async def reference_logprobs(
    pool: RolePool, samples: Sequence[Sample], settings: ControllerSettings
) -> list[list[float]]:
    """Per-completion-token log-probs under the frozen reference model."""
    request = reference_pb2.LogProbsRequest(
        sequences=[
            reference_pb2.TokenSequence(
                id=s.key,
                token_ids=s.prompt_token_ids + s.token_ids,
                prompt_len=len(s.prompt_token_ids),
            )
            for s in samples
        ]
    )

    async def call(channel: grpc.aio.Channel, _: Member) -> reference_pb2.LogProbsReply:
        stub = reference_pb2_grpc.ReferenceServiceStub(channel)
        return await stub.LogProbs(request, timeout=settings.call_timeout_s)

    reply = await pool.call(call, **_policy(settings))
    by_id = {s.id: list(s.logprobs) for s in reply.sequences}
    out = []
    for s in samples:
        values = by_id.get(s.key)
        if values is None or len(values) != len(s.token_ids):
            raise RuntimeError(f"reference log-probs for {s.key} missing or of the wrong length")
        out.append(values)
    return out


async def _experience_stream(
    header: trainer_pb2.ExperienceHeader, tensors: dict[str, torch.Tensor]
) -> AsyncIterator[trainer_pb2.ExperienceChunk]:
    yield trainer_pb2.ExperienceChunk(header=header)
    for name, tensor in tensors.items():
        for chunk in iter_tensor_chunks(name, tensor):
            yield trainer_pb2.ExperienceChunk(tensor=chunk)
            await asyncio.sleep(0)


async def push_experience(
    pool: RolePool,
    header: dict[str, Any],
    tensors: dict[str, torch.Tensor],
    settings: ControllerSettings,
) -> trainer_pb2.PushReply:
    """One shard's experience to the trainer; raises AioRpcError for non-retryable outcomes."""
    message = trainer_pb2.ExperienceHeader(
        job=header["job"],
        shard_id=header["shard_id"],
        epoch=header["epoch"],
        policy_version=header["policy_version"],
        num_samples=header["num_samples"],
        metadata=pack(header.get("metadata", {})),
    )

    async def call(channel: grpc.aio.Channel, _: Member) -> trainer_pb2.PushReply:
        stub = trainer_pb2_grpc.TrainerServiceStub(channel)
        return await stub.PushExperience(
            _experience_stream(message, tensors), timeout=settings.call_timeout_s
        )

    return await pool.call(call, **_policy(settings))
