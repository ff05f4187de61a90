"""The `sim` engine: a clearly labelled stand-in whose service time follows a calibrated model.

For benchmarks that measure the *system* (controllers, placement) on machines that cannot
host many real devices. It sleeps instead of computing; its tokens are random. Never a
default: it runs only when a config says engine: sim. The time model, per Generate call:

    seconds = prefill_s_per_token * prompt_tokens + steps * (step_s + row_step_s * rows)

where rows = prompts x n and steps = the longest completion. Calibrate the three rates from
a real engine with `python -m bench.rollout` (its table prints them).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import torch

from yatt.services.rollout.engines.base import (
    GeneratedSample,
    PromptInput,
    RolloutEngine,
    SamplingParams,
)


class SimEngine(RolloutEngine):
    """Random tokens after a modelled delay; weights are accepted and ignored."""

    name = "sim"

    def __init__(
        self,
        model_path: str,
        prefill_s_per_token: float = 2e-5,
        step_s: float = 2e-3,
        row_step_s: float = 2e-4,
        mean_length_fraction: float = 0.75,
        vocab_size: int | None = None,
        max_model_len: int | None = None,
        **_: object,
    ) -> None:
        config = {}
        path = Path(model_path) / "config.json"
        if path.is_file():
            config = json.loads(path.read_text())
        self._vocab = vocab_size or int(config.get("vocab_size", 1024))
        self._max_len = max_model_len or int(config.get("max_position_embeddings", 2048))
        self.prefill_s_per_token = prefill_s_per_token
        self.step_s = step_s
        self.row_step_s = row_step_s
        self.mean_length_fraction = mean_length_fraction

    @property
    def max_model_len(self) -> int:
        return self._max_len

    @property
    def vocab_size(self) -> int:
        return self._vocab

    def service_time(self, prompt_tokens: int, rows: int, steps: int) -> float:
        return self.prefill_s_per_token * prompt_tokens + steps * (
            self.step_s + self.row_step_s * rows
        )

    def generate(
        self, prompts: Sequence[PromptInput], params: SamplingParams
    ) -> Iterator[GeneratedSample]:
        rng = random.Random(params.seed)
        lengths = [
            [
                max(
                    1,
                    min(
                        params.max_new_tokens,
                        round(
                            rng.expovariate(1.0) * self.mean_length_fraction * params.max_new_tokens
                        ),
                    ),
                )
                for _ in range(params.n)
            ]
            for _ in prompts
        ]
        rows = len(prompts) * params.n
        steps = max((max(row) for row in lengths), default=0)
        prompt_tokens = sum(len(p.token_ids) for p in prompts)
        time.sleep(self.service_time(prompt_tokens, rows, steps))
        for prompt, row in zip(prompts, lengths, strict=True):
            for index, length in enumerate(row):
                tokens = [rng.randrange(self._vocab) for _ in range(length)]
                yield GeneratedSample(
                    prompt_id=prompt.id,
                    index=index,
                    prompt_token_ids=list(prompt.token_ids),
                    token_ids=tokens,
                    logprobs=[-math.log(self._vocab)] * length,
                    finish_reason="length" if length == params.max_new_tokens else "stop",
                )

    def load_weights(self, weights: Mapping[str, torch.Tensor]) -> None:
        del weights  # nothing to compute with
