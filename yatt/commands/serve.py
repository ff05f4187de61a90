"""`yatt serve ROLE`: run one service process from a config file plus --set overrides."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated, Any

import typer

ROLES = ("rollout", "reward", "reference", "trainer")


def config_class(role: str) -> type:
    module = importlib.import_module(f"yatt.services.{role}.config")
    return getattr(module, f"{role.capitalize()}Config")


def run_service(role: str, config: Path | None, overrides: list[str]) -> None:
    """Loads the role's typed config and runs its app under uvloop."""
    import uvloop

    from yatt.config import load_config
    from yatt.logs import set_log_context, setup_logging
    from yatt.rpc.app import instance_name

    setup_logging(role)
    cfg: Any = load_config(config_class(role), config, overrides)
    # Every line from here on names the job and the instance it registers as.
    job = cfg.registration.job or getattr(cfg, "job", None)
    set_log_context(job=job, instance=instance_name(cfg.registration, role))
    app = importlib.import_module(f"yatt.services.{role}.app")
    uvloop.run(app.run(cfg))


def serve(
    role: Annotated[str, typer.Argument(help=f"One of: {', '.join(ROLES)}.")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config key: key.sub=value.")
    ] = None,
) -> None:
    """Run a service (rollout, reward, reference, trainer) until SIGTERM."""
    if role not in ROLES:
        raise typer.BadParameter(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    run_service(role, config, overrides or [])


def module_main(role: str, argv: list[str] | None = None) -> None:
    """`python -m yatt.services.ROLE --config F --set k=v`: the same as `yatt serve ROLE`."""
    import argparse
    import sys

    from yatt.errors import ConfigError

    parser = argparse.ArgumentParser(prog=f"python -m yatt.services.{role}")
    parser.add_argument("--config", "-c", type=Path, default=None, help="YAML config file.")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="key=value")
    args = parser.parse_args(argv)
    try:
        run_service(role, args.config, args.overrides)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        sys.exit(2)
