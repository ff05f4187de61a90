"""The `hf` engine: a transformers causal LM decoded by our own batched loop with a KV cache.

All prompts x n rows decode together: prompts are left-padded and prefilled once, the cache is
repeated n times, finished rows leave the batch (so later steps are cheaper) and are yielded at
once. Log-probs follow services/rollout/engines/sampling.py (temperature-scaled, pre-truncation).
The model's EOS ids always stop a row, as do stop_token_ids; stop strings stop a row early when
the model directory has a tokenizer (core.py trims the text either way).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from transformers import DynamicCache

from yatt.errors import InvalidArgument
from yatt.models.load import DTYPES, load_causal_lm, load_tokenizer
from yatt.models.logprobs import position_ids_for
from yatt.services.rollout.engines.base import (
    GeneratedSample,
    PromptInput,
    RolloutEngine,
    SamplingParams,
)
from yatt.services.rollout.engines.sampling import sample_next


def _eos_ids(model: torch.nn.Module) -> set[int]:
    ids: set[int] = set()
    for source in (model.generation_config, model.config):
        eos = getattr(source, "eos_token_id", None)
        if eos is not None:
            ids.update([eos] if isinstance(eos, int) else eos)
    return ids


class HFEngine(RolloutEngine):
    """Batched sampling with transformers on CPU or one GPU."""

    name = "hf"

    def __init__(
        self, model_path: str, dtype: str = "float32", max_batch: int = 256, device: str = "cpu"
    ) -> None:
        if dtype not in DTYPES:
            raise InvalidArgument(f"dtype {dtype!r} not supported; use one of {sorted(DTYPES)}")
        self.device = torch.device(device)
        self.model = load_causal_lm(model_path, DTYPES[dtype]).to(self.device)  # type: ignore[arg-type]
        self.model.requires_grad_(False)
        self.tokenizer: Any
        try:
            self.tokenizer = load_tokenizer(model_path)
        except (OSError, ValueError):
            self.tokenizer = None  # stop strings then fall back to core.py's trimming
        self.max_batch = max_batch
        self.eos_ids = _eos_ids(self.model)
        self.pad_id = self.model.config.pad_token_id or 0

    @property
    def max_model_len(self) -> int:
        return int(self.model.config.max_position_embeddings)

    @property
    def vocab_size(self) -> int:
        return int(self.model.config.vocab_size)

    def load_weights(self, weights: Mapping[str, torch.Tensor]) -> None:
        params = dict(self.model.named_parameters())
        unknown = sorted(set(weights) - set(params))
        if unknown:
            raise InvalidArgument(f"unexpected tensors: {unknown[:10]}")
        with torch.no_grad():
            for name, tensor in weights.items():
                params[name].copy_(tensor)

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def generate(
        self, prompts: Sequence[PromptInput], params: SamplingParams
    ) -> Iterator[GeneratedSample]:
        generator = torch.Generator(device=self.device)
        generator.manual_seed(
            params.seed if params.seed is not None else random.SystemRandom().getrandbits(63)
        )
        per_batch = max(1, self.max_batch // max(1, params.n))
        with torch.inference_mode():
            for start in range(0, len(prompts), per_batch):
                yield from self._batch(prompts[start : start + per_batch], params, generator)

    def _prefill(
        self, prompts: Sequence[PromptInput], n: int
    ) -> tuple[DynamicCache, torch.Tensor, torch.Tensor, torch.Tensor]:
        lens = [len(p.token_ids) for p in prompts]
        width = max(lens)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for i, p in enumerate(prompts):
            ids[i, width - lens[i] :] = torch.tensor(p.token_ids, dtype=torch.long)
            mask[i, width - lens[i] :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        cache = DynamicCache(config=self.model.config)
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=position_ids_for(mask),
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        logits = out.logits[:, -1, :].float()
        positions = torch.tensor(lens, dtype=torch.long, device=self.device)
        if n > 1:  # one prefill per prompt, then n copies of its cache
            cache.batch_repeat_interleave(n)
            logits = logits.repeat_interleave(n, 0)
            mask = mask.repeat_interleave(n, 0)
            positions = positions.repeat_interleave(n, 0)
        return cache, logits, mask, positions

    def _batch(
        self, prompts: Sequence[PromptInput], params: SamplingParams, generator: torch.Generator
    ) -> Iterator[GeneratedSample]:
        n = params.n
        cache, logits, mask, positions = self._prefill(prompts, n)
        rows = [(p, i) for p in prompts for i in range(n)]
        active = list(range(len(rows)))  # batch position -> row
        tokens: list[list[int]] = [[] for _ in rows]
        logprobs: list[list[float]] = [[] for _ in rows]
        stop_ids = torch.tensor(
            sorted(self.eos_ids | set(params.stop_token_ids)), device=self.device
        )
        check_strings = bool(params.stop) and self.tokenizer is not None
        window = max((len(s.encode()) for s in params.stop), default=0) + 1
        for step in range(params.max_new_tokens):
            next_tokens, next_logprobs = sample_next(logits, params, generator)
            is_stop = torch.isin(next_tokens, stop_ids).tolist()
            last = step + 1 == params.max_new_tokens
            keep: list[int] = []
            for j, (row, tok, lp) in enumerate(
                zip(active, next_tokens.tolist(), next_logprobs.tolist(), strict=True)
            ):
                tokens[row].append(tok)
                logprobs[row].append(lp)
                stopped = is_stop[j] or (
                    check_strings and self._hit_stop(tokens[row], params, window)
                )
                if stopped or last:
                    prompt, index = rows[row]
                    yield GeneratedSample(
                        prompt_id=prompt.id,
                        index=index,
                        prompt_token_ids=list(prompt.token_ids),
                        token_ids=tokens[row],
                        logprobs=logprobs[row],
                        finish_reason="stop" if stopped else "length",
                    )
                else:
                    keep.append(j)
            if not keep:
                return
            if len(keep) < len(active):  # drop finished rows so later steps cost less
                kept = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(kept)
                mask, positions, next_tokens = mask[kept], positions[kept], next_tokens[kept]
                active = [active[j] for j in keep]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            out = self.model(
                input_ids=next_tokens[:, None],
                attention_mask=mask,
                position_ids=positions[:, None],
                cache=cache,
                use_cache=True,
            )
            positions = positions + 1
            logits = out.logits[:, -1, :].float()

    def _hit_stop(self, token_ids: list[int], params: SamplingParams, window: int) -> bool:
        tail = self.tokenizer.decode(token_ids[-window:], skip_special_tokens=True)
        return any(s in tail for s in params.stop)
