"""Loads a causal LM and its tokenizer from a local Hugging Face directory, never from a hub.

Services and the trainer all call these, so a model loads the same way everywhere.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from yatt.errors import ConfigError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Loading a few-MB checkpoint must not print progress bars into service logs.
hf_logging.disable_progress_bar()


def _local_dir(path: str | Path) -> str:
    p = Path(path)
    if not (p / "config.json").is_file():
        raise ConfigError(
            f"model path {str(path)!r} is not a local model directory (no config.json)"
        )
    return str(p)


def load_causal_lm(path: str | Path, dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    """The model in eval mode with gradients off for every parameter's default use."""
    model = AutoModelForCausalLM.from_pretrained(
        _local_dir(path), dtype=dtype, local_files_only=True
    )
    return model.eval()


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """The tokenizer saved next to the model."""
    return AutoTokenizer.from_pretrained(_local_dir(path), local_files_only=True)
