"""A Hugging Face sequence-classification reward model loaded from a local directory.

Scores batches in the executor thread so the event loop keeps serving while the model runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from yatt.config.loader import ConfigModel
from yatt.errors import ConfigError

from .base import BlockingRewardFunction, RewardContext, RewardResult, RewardSample


class RewardModelOptions(ConfigModel):
    path: str = Field(..., description="Local directory saved with save_pretrained.")
    template: str = Field(
        "{prompt}{completion}", description="Text the model reads; {prompt} and {completion}."
    )
    batch_size: int = Field(16, gt=0, description="Samples per forward pass.")
    max_length: int = Field(1024, gt=0, description="Tokens kept per sample (left-truncated).")
    label: int = Field(0, ge=0, description="Which output logit is the reward.")
    device: str = Field("cpu", description="torch device, e.g. cpu or cuda:0.")
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="Weights dtype; float32 on CPU."
    )
    threads: int | None = Field(None, gt=0, description="torch intra-op threads (None: default).")


class RewardModel(BlockingRewardFunction):
    name = "reward_model"
    Options = RewardModelOptions

    def __init__(self, options: RewardModelOptions, context: RewardContext) -> None:
        super().__init__(options, context)
        if not Path(options.path).is_dir():
            raise ConfigError(f"options.path: {options.path} is not a local directory")
        self.model: Any = None
        self.tokenizer: Any = None

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.context.executor, self._load)

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        opts: RewardModelOptions = self.options
        if opts.threads:
            torch.set_num_threads(opts.threads)
        tok = AutoTokenizer.from_pretrained(opts.path, local_files_only=True)
        if tok.pad_token is None:
            if tok.eos_token is None:
                raise ConfigError(f"options.path: tokenizer in {opts.path} has no pad or eos token")
            tok.pad_token = tok.eos_token
        # Long prompts lose their start, never the completion being judged.
        tok.truncation_side = "left"
        model = AutoModelForSequenceClassification.from_pretrained(
            opts.path, local_files_only=True, dtype=getattr(torch, opts.dtype)
        )
        if opts.label >= model.config.num_labels:
            raise ConfigError(f"options.label: model has {model.config.num_labels} labels")
        if model.config.pad_token_id is None:
            # The head reads the last non-pad token, so the model must know the pad id.
            model.config.pad_token_id = tok.pad_token_id
        self.tokenizer, self.model = tok, model.to(opts.device).eval()

    async def close(self) -> None:
        self.model = self.tokenizer = None

    def score_sync(self, samples: Sequence[RewardSample]) -> list[RewardResult]:
        import torch

        opts: RewardModelOptions = self.options
        texts = [opts.template.format(prompt=s.prompt, completion=s.completion) for s in samples]
        out: list[RewardResult] = []
        with torch.inference_mode():
            for i in range(0, len(texts), opts.batch_size):
                enc = self.tokenizer(
                    texts[i : i + opts.batch_size],
                    return_tensors="pt",
                    padding=True,
                    truncation=True,
                    max_length=opts.max_length,
                ).to(opts.device)
                logits = self.model(**enc).logits[:, opts.label].float().cpu()
                out.extend(RewardResult(total=float(v)) for v in logits)
        return out
