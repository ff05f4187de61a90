"""The rollout engine interface: token ids in, sampled token ids and their log-probs out.

Engines know nothing of text, gRPC or versions; services/rollout/core.py does those.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. temperature 0 means greedy; top_p 1 and top_k 0 disable truncation."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 64
    # Stop strings are handled by core.py on detokenized text; engines may ignore them.
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    n: int = 1
    seed: int | None = None


@dataclass(frozen=True)
class PromptInput:
    """One prompt, already tokenized; payload is opaque bytes that travel with the sample."""

    id: str
    token_ids: tuple[int, ...]
    payload: bytes = b""


@dataclass
class GeneratedSample:
    """One finished sample. logprobs[i] is the log-prob of token_ids[i] (see the engine's doc)."""

    prompt_id: str
    index: int
    prompt_token_ids: list[int]
    token_ids: list[int]
    logprobs: list[float]
    finish_reason: str  # "stop" | "length"
    text: str = ""


class RolloutEngine(abc.ABC):
    """A generator of samples with replaceable weights; one call at a time per engine."""

    name: ClassVar[str]

    @abc.abstractmethod
    def generate(
        self, prompts: Sequence[PromptInput], params: SamplingParams
    ) -> Iterator[GeneratedSample]:
        """Blocking; runs in a worker thread and yields samples as they finish."""

    @abc.abstractmethod
    def load_weights(self, weights: Mapping[str, torch.Tensor]) -> None:
        """Replaces every parameter: a full state dict with Hugging Face parameter names."""

    @property
    @abc.abstractmethod
    def max_model_len(self) -> int:
        """Longest prompt + completion the engine can hold, in tokens."""

    @property
    @abc.abstractmethod
    def vocab_size(self) -> int:
        """Number of token ids the model accepts (ids must be in [0, vocab_size))."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Frees memory; used when a worker changes role."""
