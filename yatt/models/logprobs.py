"""The one computation of per-token log-probs, shared by the reference service and the trainer.

Same function on both sides means the KL term compares like with like (float32, temperature 1).
"""

from __future__ import annotations

import torch


def position_ids_for(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions counting only real tokens, so left or right padding gives the same numbers."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def token_logprobs(
    model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """[B, T-1] float32: out[b, t] = log p(input_ids[b, t+1] | input_ids[b, :t+1]).

    Entries whose target or context position is padding are 0 (a first token has no context).
    Gradients flow when called outside no_grad.
    """
    logits = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_for(attention_mask),
        use_cache=False,
    ).logits
    return logprobs_from_logits(logits, input_ids, attention_mask)


def logprobs_from_logits(
    logits: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """token_logprobs from logits already computed [B, T, V] (the trainer needs them for entropy)."""
    logp = torch.log_softmax(logits[:, :-1, :].float(), dim=-1)
    out = logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    valid = attention_mask[:, 1:] * attention_mask[:, :-1]
    return out * valid.to(out.dtype)
