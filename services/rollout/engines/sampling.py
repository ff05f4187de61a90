"""Next-token sampling for batched decoding: temperature, top-k, top-p, seeded, with log-probs.

The log-prob returned is that of the temperature-scaled distribution BEFORE top-k/top-p truncation
(vLLM's default); for greedy (temperature 0) it is the untempered (temperature 1) distribution.
"""

from __future__ import annotations

import torch

from yatt.services.rollout.engines.base import SamplingParams


def truncate(scaled: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """scaled logits with everything outside top-k and the top-p nucleus set to -inf."""
    vocab = scaled.shape[-1]
    if 0 < top_k < vocab:
        kth = torch.topk(scaled, top_k, dim=-1).values[:, -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    if 0.0 < top_p < 1.0:
        sorted_logits, order = torch.sort(scaled, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # Drop a token once the mass before it already reaches top_p; the top token always stays.
        drop = (probs.cumsum(-1) - probs) >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        scaled = torch.empty_like(scaled).scatter_(-1, order, sorted_logits)
    return scaled


def sample_next(
    logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(tokens [B] int64, logprobs [B] float32) for float32 logits [B, V]."""
    if params.temperature == 0.0:
        tokens = logits.argmax(-1)
        logp = torch.log_softmax(logits, dim=-1)
        return tokens, logp.gather(-1, tokens[:, None]).squeeze(-1)
    scaled = logits / params.temperature
    logp = torch.log_softmax(scaled, dim=-1)
    probs = torch.softmax(truncate(scaled, params.top_k, params.top_p), dim=-1)
    tokens = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    return tokens, logp.gather(-1, tokens[:, None]).squeeze(-1)
