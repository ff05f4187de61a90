"""Turns a shard's scored samples into the trainer's experience tensors.

Tensors are token-aligned to prompt + completion (right-padded): value[b, t] belongs to
input_ids[b, t], and loss_mask marks completion tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from yatt.config.algorithm import DAPO
from yatt.controller.algo import advantages_for, apply_overlong_penalty
from yatt.controller.config import JobConfig
from yatt.controller.sample import Sample


def shaped_rewards(samples: Sequence[Sample], job: JobConfig) -> torch.Tensor:
    """Rewards [B] after DAPO overlong shaping, when enabled."""
    rewards = torch.tensor([s.reward for s in samples], dtype=torch.float32)
    algo = job.algorithm
    if isinstance(algo, DAPO) and algo.overlong.enabled:
        overlong = algo.overlong
        lengths = torch.tensor([len(s.token_ids) for s in samples])
        rewards = apply_overlong_penalty(
            rewards, lengths, job.sampling.max_new_tokens, overlong.buffer, overlong.penalty
        )
    return rewards


def experience_tensors(samples: Sequence[Sample], job: JobConfig) -> dict[str, torch.Tensor]:
    """input_ids, attention_mask, loss_mask, old/ref log-probs, rewards and, unless the
    trainer estimates them with its critic (PPO), advantages."""
    batch = len(samples)
    width = max(s.length for s in samples)
    input_ids = torch.zeros(batch, width, dtype=torch.int64)
    attention = torch.zeros(batch, width, dtype=torch.int64)
    loss_mask = torch.zeros(batch, width, dtype=torch.float32)
    old = torch.zeros(batch, width, dtype=torch.float32)
    ref = torch.zeros(batch, width, dtype=torch.float32)
    for b, s in enumerate(samples):
        start, end = len(s.prompt_token_ids), s.length
        input_ids[b, :end] = torch.tensor(s.prompt_token_ids + s.token_ids, dtype=torch.int64)
        attention[b, :end] = 1
        loss_mask[b, start:end] = 1.0
        old[b, start:end] = torch.tensor(s.logprobs, dtype=torch.float32)
        if s.ref_logprobs is not None:
            ref[b, start:end] = torch.tensor(s.ref_logprobs, dtype=torch.float32)
    rewards = shaped_rewards(samples, job)
    group_ids = torch.tensor([s.group for s in samples], dtype=torch.int64)
    out = {
        "input_ids": input_ids,
        "attention_mask": attention,
        "loss_mask": loss_mask,
        "old_logprobs": old,
        "ref_logprobs": ref,
        "rewards": rewards,
    }
    algo = job.algorithm
    if algo.needs_critic:  # PPO: GAE with the trainer's critic (and its reward KL there)
        return out
    kl = None
    if algo.kl_placement == "reward":
        kl = (old - ref) * loss_mask  # k1 estimate of KL(pi || ref) per token
    advantages = advantages_for(algo, rewards, group_ids, loss_mask, kl=kl)
    out["advantages"] = advantages.to(torch.float32)
    return out
