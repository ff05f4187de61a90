"""`yatt controller --job J`: run one stateless controller until the job is done."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def controller(
    job: Annotated[str | None, typer.Option(help="Job to work on.")] = None,
    etcd: Annotated[str | None, typer.Option(help="etcd host:port.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config.")] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config key: key.sub=value.")
    ] = None,
) -> None:
    """Run a stateless controller: claim shards of a job and drive them through the services."""
    from yatt.process.main import run_process
    from yatt.process.registry import process_spec

    flags = process_spec("controller").flag_overrides(job=job, etcd=etcd)
    run_process("controller", config, [*(overrides or []), *flags])
