"""SFTConfig: the typed config of `yatt sft` (model, data, output, optimisation, threads).

It imports no torch, so the CLI validates a config before loading anything heavy.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from yatt.config.loader import ConfigModel


class SFTConfig(ConfigModel):
    """One supervised pass over prompt/completion rows; the result is a Hugging Face directory."""

    model: str = Field(
        ..., description="Local model directory (Hugging Face format) to start from."
    )
    data: str = Field(..., description="JSONL file with prompt and completion columns.")
    out: str = Field(..., description="Directory to write the tuned model and tokenizer to.")
    prompt_column: str = Field("prompt", description="Column holding the prompt text.")
    completion_column: str = Field(
        "completion", description="Column holding the target text (EOS is appended)."
    )
    steps: int | None = Field(
        None, gt=0, description="Optimizer steps; when unset, `epochs` passes over the data."
    )
    epochs: float = Field(1.0, gt=0, description="Passes over the data when `steps` is unset.")
    batch_size: int = Field(32, gt=0, description="Rows per optimizer step.")
    lr: float = Field(3e-3, gt=0, description="Peak AdamW learning rate.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    warmup_steps: int = Field(10, ge=0, description="Linear warmup steps from 0 to lr.")
    schedule: Literal["constant", "cosine"] = Field(
        "cosine", description="After warmup: constant lr, or cosine decay to 10% of lr."
    )
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    max_len: int = Field(64, gt=1, description="Prompt+completion tokens per row at most.")
    seed: int = Field(0, description="Seed for data order and anything random in training.")
    threads: int = Field(
        1,
        ge=0,
        description="torch CPU threads; 0 leaves torch's default. One is fastest for tiny models "
        "on a shared CPU (two threads ran 10x slower when the cores were busy).",
    )
    progress: bool = Field(True, description="Show a live progress bar.")
    overwrite: bool = Field(False, description="Replace a non-empty output directory.")
