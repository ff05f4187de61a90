"""`yatt sft`: a short supervised pass that warm-starts a model before RL.

Config from a YAML file and --set overrides, or the common fields as flags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def sft(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML SFTConfig.")] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config key: key=value.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Local model directory to start from.")] = None,
    data: Annotated[str | None, typer.Option(help="JSONL with prompt/completion.")] = None,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Output directory.")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps.")] = None,
    eval_data: Annotated[
        Path | None,
        typer.Option("--eval", help="Task JSONL to score afterwards (greedy and sampled x8)."),
    ] = None,
) -> None:
    """Fine-tune on prompt/completion rows (loss on completions) and save model + tokenizer."""
    from yatt.config import format_overrides, load_config
    from yatt.errors import YattError
    from yatt.sft.config import SFTConfig
    from yatt.sft.trainer import run_sft

    flags = format_overrides({"model": model, "data": data, "out": out, "steps": steps})
    # Here --set comes last and wins over the flags.
    cfg = load_config(SFTConfig, config, [*flags, *(overrides or [])])
    try:
        result = run_sft(cfg)
    except YattError as exc:
        typer.echo(f"sft: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"sft: {result.steps} steps in {result.wall_s:.1f}s, loss {result.losses[0]:.3f} -> "
        f"{result.losses[-1]:.3f}; saved to {result.out}"
    )
    if eval_data is not None:
        from yatt.tasks.evaluate import evaluate

        greedy = evaluate(result.out, eval_data)
        sampled = evaluate(result.out, eval_data, samples=8, temperature=1.0)
        typer.echo(
            f"eval on {eval_data}: greedy accuracy {greedy.accuracy:.3f}, sampled (T=1) "
            f"{sampled.accuracy:.3f}, mixed groups of 8 {sampled.mixed_fraction:.3f}"
        )
