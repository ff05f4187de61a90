"""`yatt serve ROLE`: run one service process from a config file plus --set overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yatt.process.registry import SERVICE_ROLES


def serve(
    role: Annotated[str, typer.Argument(help=f"One of: {', '.join(SERVICE_ROLES)}.")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config key: key.sub=value.")
    ] = None,
) -> None:
    """Run a service (rollout, reward, reference, trainer) until SIGTERM."""
    from yatt.process.main import run_process

    if role not in SERVICE_ROLES:
        raise typer.BadParameter(f"unknown role {role!r}; choose one of {', '.join(SERVICE_ROLES)}")
    run_process(role, config, overrides or [])
