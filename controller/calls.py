"""The controller's calls to rollout, reward, reference and trainer, on the services' own clients.

What stays here is the controller's part: building its Samples, and failover through RolePool.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc
import torch

from yatt.controller.config import ControllerSettings, SamplingConfig
from yatt.controller.dataset import PromptRow
from yatt.controller.pool import Member, RolePool
from yatt.controller.sample import Sample
from yatt.services.reference.client import ReferenceClient
from yatt.services.reference.core import TokenSequence
from yatt.services.reward.client import RewardClient
from yatt.services.reward.plugins.base import RewardSample
from yatt.services.rollout.client import RolloutClient
from yatt.services.rollout.core import GenerateRequest, PromptRequest
from yatt.services.rollout.engines.base import SamplingParams
from yatt.services.trainer.client import TrainerClient
from yatt.services.trainer.core import PushResult
from yatt.services.trainer.experience import ExperienceHeader


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
    request = GenerateRequest(
        prompts=[PromptRequest(r.id, r.text, payload=r.payload) for r in rows],
        params=SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            max_new_tokens=sampling.max_new_tokens,
            stop=tuple(sampling.stop),
            n=sampling.n,
            seed=seed,
        ),
        min_version=min_version,
    )
    by_id = {r.id: (group, r) for group, r in enumerate(rows)}

    async def call(channel: grpc.aio.Channel, _: Member) -> list[Sample]:
        out = []
        async for c in RolloutClient(channel).generate(request, timeout_s=settings.call_timeout_s):
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
                    weight_version=c.weight_version,
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
    request = [
        RewardSample(
            id=s.key,
            prompt=s.prompt_text,
            completion=s.text,
            metadata=s.metadata,
            payload=s.payload,
            completion_token_ids=tuple(s.token_ids),
        )
        for s in samples
    ]

    async def call(channel: grpc.aio.Channel, _: Member) -> list[tuple[float, dict[str, float]]]:
        results = await RewardClient(channel).score(request, timeout_s=settings.call_timeout_s)
        return [(r.total, dict(r.components)) for r in results]

    return await pool.call(call, **_policy(settings))


async def reference_logprobs(
    pool: RolePool, samples: Sequence[Sample], settings: ControllerSettings
) -> list[list[float]]:
    """Per-completion-token log-probs under the frozen reference model."""
    request = [
        TokenSequence(s.key, tuple(s.prompt_token_ids + s.token_ids), len(s.prompt_token_ids))
        for s in samples
    ]

    async def call(channel: grpc.aio.Channel, _: Member) -> dict[str, list[float]]:
        results = await ReferenceClient(channel).logprobs(
            request, timeout_s=settings.call_timeout_s
        )
        return {r.id: list(r.logprobs) for r in results}

    by_id = await pool.call(call, **_policy(settings))
    out = []
    for s in samples:
        values = by_id.get(s.key)
        if values is None or len(values) != len(s.token_ids):
            raise RuntimeError(f"reference log-probs for {s.key} missing or of the wrong length")
        out.append(values)
    return out


async def push_experience(
    pool: RolePool,
    header: ExperienceHeader,
    tensors: dict[str, torch.Tensor],
    settings: ControllerSettings,
) -> PushResult:
    """One shard's experience to the trainer; AlreadyExists / FailedPrecondition pass through."""

    async def call(channel: grpc.aio.Channel, _: Member) -> PushResult:
        return await TrainerClient(channel).push_experience(
            header, tensors, timeout_s=settings.call_timeout_s
        )

    return await pool.call(call, **_policy(settings))
