"""Experience: one shard's training tensors as pushed by a controller, and their validation.

Validation runs before the trainer touches any state, so a refused push leaves it unchanged.
Per-token tensors are [N, T] aligned with input_ids: column t belongs to token input_ids[:, t]
(its log-prob given the tokens before it); column 0 is never a completion token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from yatt.errors import InvalidArgument

INT_TENSORS = ("input_ids", "attention_mask")
TOKEN_FLOATS = ("loss_mask", "old_logprobs", "ref_logprobs", "advantages")
KNOWN = (*INT_TENSORS, *TOKEN_FLOATS, "rewards")


@dataclass(frozen=True)
class ExperienceHeader:
    job: str
    shard_id: str
    epoch: int
    weight_version: int  # the version the samples were generated with
    num_samples: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Experience:
    """One shard. ref_logprobs and advantages are None when the algorithm does not need them."""

    header: ExperienceHeader
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    loss_mask: torch.Tensor
    old_logprobs: torch.Tensor
    rewards: torch.Tensor
    ref_logprobs: torch.Tensor | None = None
    advantages: torch.Tensor | None = None

    @property
    def shard_id(self) -> str:
        return self.header.shard_id

    @property
    def num_samples(self) -> int:
        return int(self.input_ids.shape[0])

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {name: getattr(self, name) for name in KNOWN}
        return {k: v for k, v in out.items() if v is not None}


def parse_shard_id(shard_id: str) -> tuple[int, int]:
    """ "<epoch>/<idx>" -> (epoch, idx); InvalidArgument otherwise."""
    epoch, sep, idx = shard_id.partition("/")
    if not sep or not epoch.isdigit() or not idx.isdigit():
        raise InvalidArgument(f"shard_id {shard_id!r} is not '<epoch>/<idx>'")
    return int(epoch), int(idx)


def experience_from_tensors(
    header: ExperienceHeader, tensors: dict[str, torch.Tensor]
) -> Experience:
    """Names -> Experience; unknown or missing-required names are InvalidArgument."""
    unknown = sorted(set(tensors) - set(KNOWN))
    if unknown:
        raise InvalidArgument(f"shard {header.shard_id}: unknown tensors {unknown}; known {KNOWN}")
    required = ("input_ids", "attention_mask", "loss_mask", "old_logprobs", "rewards")
    missing = [name for name in required if name not in tensors]
    if missing:
        raise InvalidArgument(f"shard {header.shard_id}: missing tensors {missing}")
    return Experience(header=header, **tensors)


@dataclass(frozen=True)
class Requirements:
    """What the trainer's configuration needs from every shard."""

    job: str
    vocab_size: int
    needs_advantages: bool
    needs_ref_logprobs: bool


def validate(exp: Experience, req: Requirements) -> None:
    """Raises InvalidArgument naming the first problem; never mutates anything."""
    h = exp.header
    where = f"shard {h.shard_id!r}"
    if h.job != req.job:
        raise InvalidArgument(f"{where}: unknown job {h.job!r} (this trainer serves {req.job!r})")
    epoch, _ = parse_shard_id(h.shard_id)
    if epoch != h.epoch:
        raise InvalidArgument(f"{where}: shard of epoch {epoch} sent with header epoch {h.epoch}")
    if h.weight_version < 0:
        raise InvalidArgument(f"{where}: negative weight_version {h.weight_version}")
    if req.needs_advantages and exp.advantages is None:
        raise InvalidArgument(f"{where}: this algorithm needs advantages")
    if req.needs_ref_logprobs and exp.ref_logprobs is None:
        raise InvalidArgument(f"{where}: kl_coef > 0 needs ref_logprobs")
    _check_dtypes_and_shapes(exp, where)
    _check_values(exp, req, where)


def _check_dtypes_and_shapes(exp: Experience, where: str) -> None:
    ids = exp.input_ids
    if ids.dtype != torch.int64 or ids.dim() != 2:
        raise InvalidArgument(
            f"{where}: input_ids must be int64 [N, T], got {ids.dtype} {list(ids.shape)}"
        )
    n, t = ids.shape
    if n == 0 or t < 2:
        raise InvalidArgument(f"{where}: input_ids {list(ids.shape)} has no samples or tokens")
    if n != exp.header.num_samples:
        raise InvalidArgument(f"{where}: header says {exp.header.num_samples} samples, got {n}")
    for name, tensor in exp.tensors().items():
        want_dtype = torch.int64 if name in INT_TENSORS else torch.float32
        want_shape = [n] if name == "rewards" else [n, t]
        if tensor.dtype != want_dtype:
            raise InvalidArgument(f"{where}: {name} must be {want_dtype}, got {tensor.dtype}")
        if list(tensor.shape) != want_shape:
            raise InvalidArgument(
                f"{where}: mismatched lengths: {name} is {list(tensor.shape)}, "
                f"expected {want_shape} like input_ids"
            )


def _check_values(exp: Experience, req: Requirements, where: str) -> None:
    for name in ("rewards", "old_logprobs", "ref_logprobs", "advantages", "loss_mask"):
        tensor = getattr(exp, name)
        if tensor is not None and not bool(torch.isfinite(tensor).all()):
            raise InvalidArgument(f"{where}: {name} contains NaN or inf")
    ids = exp.input_ids
    if int(ids.min()) < 0 or int(ids.max()) >= req.vocab_size:
        raise InvalidArgument(f"{where}: input_ids outside [0, {req.vocab_size})")
    attn = exp.attention_mask
    if not bool(((attn == 0) | (attn == 1)).all()):
        raise InvalidArgument(f"{where}: attention_mask must be 0/1")
    mask = exp.loss_mask
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise InvalidArgument(f"{where}: loss_mask must be 0/1")
    if bool((mask[:, 0] != 0).any()):
        raise InvalidArgument(
            f"{where}: loss_mask[:, 0] must be 0 (the first token has no log-prob)"
        )
    if bool((mask > attn.to(mask.dtype)).any()):
        raise InvalidArgument(f"{where}: loss_mask marks tokens that attention_mask pads")
    if float(mask.sum()) == 0:
        raise InvalidArgument(f"{where}: loss_mask selects no token")
