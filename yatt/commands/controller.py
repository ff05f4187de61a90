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
    import uvloop

    from yatt.config import load_config
    from yatt.controller.app import run
    from yatt.controller.config import ControllerConfig
    from yatt.logs import setup_logging

    setup_logging("controller")
    sets = list(overrides or [])
    if job:
        sets.append(f"job={job}")
    if etcd:
        sets.append(f"etcd.endpoint={etcd}")
    uvloop.run(run(load_config(ControllerConfig, config, sets)))
