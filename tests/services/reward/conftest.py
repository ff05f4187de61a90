"""Fixtures of the reward service tests: a tiny local reward model and a gRPC scoring client."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import pytest

from yatt.services.reward.client import RewardClient
from yatt.services.reward.plugins.base import RewardResult, RewardSample
from yatt.testing.etcd import EtcdServer

os.environ.setdefault("OMP_NUM_THREADS", "1")

ScoreFn = Callable[[str, Sequence[RewardSample]], Awaitable[list[tuple[str, RewardResult]]]]


def build_reward_model(out: Path, seed: int = 0) -> Path:
    """A ~0.3M-parameter Qwen2 sequence classifier (num_labels=1) with a locally trained tokenizer."""
    import torch
    from transformers import AutoModelForSequenceClassification, Qwen2Config

    from yatt.models.init import train_tokenizer

    tok = train_tokenizer(vocab_size=384, seed=seed)
    config = Qwen2Config(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
        num_labels=1, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config, dtype=torch.float32)
    # Random init gives a near-zero head; scale it so scores differ visibly between texts.
    with torch.no_grad():
        model.score.weight.mul_(50.0)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def reward_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_reward_model(tmp_path_factory.mktemp("reward-model"))


async def score_over_grpc(
    target: str, samples: Sequence[RewardSample], timeout: float = 30.0
) -> list[tuple[str, RewardResult]]:
    """The client code every RewardService endpoint is called with, ours or an external one."""
    async with RewardClient.connect(target) as reward:
        results = await reward.score(samples, timeout_s=timeout)
    return [(s.id, r) for s, r in zip(samples, results, strict=True)]


@pytest.fixture
def score() -> ScoreFn:
    return score_over_grpc


@pytest.fixture(scope="module")
def etcd_server() -> Iterator[EtcdServer]:
    with EtcdServer() as server:
        yield server
