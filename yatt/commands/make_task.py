"""`yatt make-task arithmetic`: write a bundled verifiable task as train/test JSONL.

The files feed both `yatt sft` (prompt + completion) and a GRPO job (prompt + answer metadata).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

TASKS = ("arithmetic",)


def make_task(
    task: Annotated[str, typer.Argument(help=f"Task to generate: {', '.join(TASKS)}.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for the JSONL files.")],
    train: Annotated[int, typer.Option(help="Rows in train.jsonl.")] = 2000,
    test: Annotated[int, typer.Option(help="Rows in test.jsonl.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed; the same seed writes the same files.")] = 0,
    min_operand: Annotated[int, typer.Option(help="Smallest operand.")] = 0,
    max_operand: Annotated[int, typer.Option(help="Largest operand (the difficulty knob).")] = 9,
    ops: Annotated[str, typer.Option(help="Operators to draw from, e.g. '+-' or '+-*'.")] = "+",
    allow_negative: Annotated[
        bool, typer.Option("--allow-negative", help="Let a-b be negative.")
    ] = False,
) -> None:
    """Generate a task's train.jsonl/test.jsonl (columns prompt, answer, completion)."""
    from yatt.errors import YattError
    from yatt.tasks.arithmetic import ArithmeticSpec, write_task

    if task not in TASKS:
        raise typer.BadParameter(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    try:
        spec = ArithmeticSpec(min_operand, max_operand, tuple(ops), allow_negative)
        path = write_task(out, spec, train, test, seed)
    except YattError as exc:
        typer.echo(f"make-task: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {train} train / {test} test {task} rows ({spec.space} distinct) to {path}")
