"""Reference log-probs without gRPC: validate sequences, batch them by length, run the frozen
model through yatt.models.logprobs.token_logprobs (the trainer's function) off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch

from yatt.errors import InvalidArgument
from yatt.models.load import DTYPES, load_causal_lm
from yatt.models.logprobs import token_logprobs

from .config import ReferenceConfig


@dataclass(frozen=True)
class TokenSequence:
    """Prompt then completion tokens; log-probs are wanted for token_ids[prompt_len:]."""

    id: str
    token_ids: tuple[int, ...]
    prompt_len: int


@dataclass(frozen=True)
class SequenceLogProbs:
    id: str
    logprobs: list[float]


class ReferenceCore:
    """A frozen model; one forward pass at a time, in a dedicated thread."""

    def __init__(
        self,
        model: torch.nn.Module,
        max_batch_tokens: int = 16384,
        max_sequences: int = 4096,
        device: str = "cpu",
    ) -> None:
        self.model = model.requires_grad_(False).eval()
        self.device = torch.device(device)
        self.max_batch_tokens = max_batch_tokens
        self.max_sequences = max_sequences
        config: Any = model.config
        self.vocab_size = int(config.vocab_size)
        self.max_len = int(config.max_position_embeddings)
        self.pad_id = int(config.pad_token_id or 0)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="reference-model")

    @classmethod
    def from_config(cls, cfg: ReferenceConfig) -> ReferenceCore:
        """Loads the model from cfg.model.path (slow: call it off the event loop)."""
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        model = load_causal_lm(cfg.model.path, DTYPES[cfg.model.dtype]).to(cfg.device)  # type: ignore[arg-type]
        return cls(model, cfg.max_batch_tokens, cfg.max_sequences, cfg.device)

    def validate(self, seqs: Sequence[TokenSequence]) -> None:
        if not seqs:
            raise InvalidArgument("sequences: empty; send at least one sequence")
        if len(seqs) > self.max_sequences:
            raise InvalidArgument(
                f"{len(seqs)} sequences exceed max_sequences {self.max_sequences}"
            )
        for s in seqs:
            if not 1 <= s.prompt_len <= len(s.token_ids):
                raise InvalidArgument(
                    f"sequence {s.id!r}: prompt_len {s.prompt_len} not in [1, {len(s.token_ids)}]"
                )
            if len(s.token_ids) > self.max_len:
                raise InvalidArgument(
                    f"sequence {s.id!r}: {len(s.token_ids)} tokens exceed the model's {self.max_len}"
                )
            bad = [t for t in s.token_ids if not 0 <= t < self.vocab_size]
            if bad:
                raise InvalidArgument(
                    f"sequence {s.id!r}: token ids {bad[:5]} outside the vocabulary "
                    f"[0, {self.vocab_size})"
                )

    async def logprobs(self, seqs: Sequence[TokenSequence]) -> list[SequenceLogProbs]:
        """One entry per sequence, in request order."""
        self.validate(seqs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.compute, seqs)

    def compute(self, seqs: Sequence[TokenSequence]) -> list[SequenceLogProbs]:
        out: list[SequenceLogProbs | None] = [None] * len(seqs)
        for batch in self._batches(seqs):
            rows = [seqs[i] for i in batch]
            width = max(len(s.token_ids) for s in rows)
            ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, s in enumerate(rows):  # right padding: real tokens keep positions 0..n-1
                ids[r, : len(s.token_ids)] = torch.tensor(s.token_ids)
                mask[r, : len(s.token_ids)] = 1
            with torch.inference_mode():
                lp = token_logprobs(self.model, ids.to(self.device), mask.to(self.device)).cpu()
            for r, (i, s) in enumerate(zip(batch, rows, strict=True)):
                values = lp[r, s.prompt_len - 1 : len(s.token_ids) - 1].tolist()
                out[i] = SequenceLogProbs(s.id, values)
        return [o for o in out if o is not None]

    def _batches(self, seqs: Sequence[TokenSequence]) -> list[list[int]]:
        """Indices grouped by similar length so padding stays small, within max_batch_tokens."""
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i].token_ids))
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            width = len(seqs[i].token_ids)  # sorted: the newest row is the longest
            if current and (len(current) + 1) * width > self.max_batch_tokens:
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
