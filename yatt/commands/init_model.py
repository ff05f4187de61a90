"""`yatt init-model`: write a tiny randomly initialised model and a locally trained tokenizer.

Tests, examples and benchmarks load the result with from_pretrained, like a real checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def init_model(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory to write (Hugging Face format).")
    ],
    preset: Annotated[
        str, typer.Option(help="Model size: tiny (~1M), small (~5M), base (~25M).")
    ] = "tiny",
    seed: Annotated[int, typer.Option(help="Seed for the weights and the tokenizer corpus.")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite a non-empty directory.")
    ] = False,
) -> None:
    """Build a causal LM from a preset config and train its byte-level BPE tokenizer."""
    from yatt.errors import YattError
    from yatt.models.init import count_parameters
    from yatt.models.init import init_model as build
    from yatt.models.load import load_causal_lm

    try:
        path = build(preset, out, seed=seed, force=force)
    except YattError as exc:
        typer.echo(f"init-model: {exc}", err=True)
        raise typer.Exit(1) from None
    params = count_parameters(load_causal_lm(path))
    typer.echo(f"wrote {preset} model ({params:,} parameters) to {path}")
