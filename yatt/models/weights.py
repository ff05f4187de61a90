"""The exact set of tensors a model's weight update must carry: names, shapes and dtypes.

Rollout checks incoming weight streams against it before touching the engine, so a bad stream
is refused whole (InvalidArgument naming the tensors) and never half-applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from yatt.errors import InvalidArgument


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: torch.dtype


@dataclass(frozen=True)
class WeightSpec:
    """tensors: every required name; aliases: tied names (e.g. lm_head.weight) that may be sent too."""

    tensors: Mapping[str, TensorSpec]
    aliases: Mapping[str, str]

    def check_one(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> str:
        """The canonical name for an incoming tensor; InvalidArgument if unknown or mismatched."""
        canonical = self.aliases.get(name, name)
        want = self.tensors.get(canonical)
        if want is None:
            raise InvalidArgument(f"unexpected tensor {name!r}: the model has no such parameter")
        if tuple(shape) != want.shape or dtype != want.dtype:
            raise InvalidArgument(
                f"tensor {name!r}: got {_fmt(dtype)}{list(shape)}, "
                f"model has {_fmt(want.dtype)}{list(want.shape)}"
            )
        return canonical

    def check_complete(self, names: set[str]) -> None:
        """InvalidArgument naming the missing tensors if names does not cover the model."""
        missing = sorted(set(self.tensors) - names)
        if missing:
            shown = ", ".join(missing[:10]) + (
                f" (+{len(missing) - 10} more)" if len(missing) > 10 else ""
            )
            raise InvalidArgument(f"weight stream is missing {len(missing)} tensors: {shown}")


def _fmt(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def spec_of(model: torch.nn.Module) -> WeightSpec:
    """The spec of a built model: distinct parameters plus persistent buffers; tied names as aliases."""
    tensors: dict[str, TensorSpec] = {}
    aliases: dict[str, str] = {}
    first: dict[int, str] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in first:
            aliases[name] = first[id(p)]
            continue
        first[id(p)] = name
        tensors[name] = TensorSpec(tuple(p.shape), p.dtype)
    persistent = set(model.state_dict(keep_vars=True))
    for name, b in model.named_buffers():
        if name in persistent:
            tensors[name] = TensorSpec(tuple(b.shape), b.dtype)
    return WeightSpec(tensors, aliases)


def spec_from_dir(path: str | Path, dtype: torch.dtype = torch.float32) -> WeightSpec:
    """The spec of the model saved at path, built on the meta device (no memory, no weights read)."""
    config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    return spec_of(model)
