"""`yatt up CONFIG` and `yatt demo`: a whole local cluster running one job to the end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.yaml"


def _run(config: Path, overrides: list[str], out: Path | None) -> None:
    from yatt.cluster.config import UpConfig
    from yatt.cluster.up import up as run_up
    from yatt.config import load_config
    from yatt.logs import setup_logging

    setup_logging("up", "WARNING")
    sets = list(overrides)
    if out is not None:
        sets.append(f"out={out}")
    raise typer.Exit(run_up(load_config(UpConfig, config, sets)))


def up(
    config: Annotated[Path, typer.Argument(help="UpConfig YAML (see examples/demo.yaml).")],
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config key: key.sub=value.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run directory (default runs/<job>-<time>).")
    ] = None,
) -> None:
    """Start etcd, every service and controllers locally, run the job, report, stop all."""
    _run(config, overrides or [], out)


def demo(
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override a key of examples/demo.yaml.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run directory (default runs/<job>-<time>).")
    ] = None,
) -> None:
    """The main job: warm-start a tiny model on arithmetic, then GRPO it on a local cluster."""
    _run(DEMO, overrides or [], out)
