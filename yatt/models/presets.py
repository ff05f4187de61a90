"""Named model sizes for `yatt init-model`: tiny (~1M params), small (~5M), base (~25M).

head_dim is 64 in every preset: the size every attention backend (vLLM's CPU one included) supports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from yatt.errors import ConfigError

Arch = Literal["qwen2", "llama"]


@dataclass(frozen=True)
class ModelPreset:
    """Shape of a decoder-only LM; vocab_size is the tokenizer's target size."""

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    vocab_size: int
    max_position_embeddings: int
    arch: Arch = "qwen2"
    tie_word_embeddings: bool = True


PRESETS: dict[str, ModelPreset] = {
    p.name: p
    for p in (
        ModelPreset("tiny", 128, 4, 2, 2, 384, 1024, 512),
        ModelPreset("small", 256, 6, 4, 2, 768, 2048, 1024),
        ModelPreset("base", 512, 8, 8, 4, 1536, 4096, 2048),
    )
}


def get_preset(name: str) -> ModelPreset:
    """The preset called name; ConfigError listing the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown model preset {name!r}; known: {sorted(PRESETS)}") from None
