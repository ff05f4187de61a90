"""`yatt worker --slot N --job J`: host whichever role placement assigns to slot N."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def worker(
    slot: Annotated[int, typer.Option("--slot", help="The slot (GPU index on GPU machines).")],
    job: Annotated[str | None, typer.Option("--job", help="Job id (overrides the config).")] = None,
    etcd: Annotated[str | None, typer.Option("--etcd", help="etcd host:port.")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Worker YAML config.")
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config key: key.sub=value.")
    ] = None,
) -> None:
    """Run a worker: follow the slot's assignment and run that role's service as a child."""
    from yatt.process.main import run_process
    from yatt.process.registry import process_spec

    flags = process_spec("worker").flag_overrides(slot=slot, job=job, etcd=etcd)
    run_process("worker", config, [*(overrides or []), *flags])
