"""Runs one registered process: load its typed config, set up logging, run its entry point.

Every way of starting a process ends here: `yatt serve|controller|worker|placement run`,
`python -m yatt.process ROLE` (what the worker and the local cluster launch) and
`python -m yatt.services.ROLE` / `python -m yatt.placement run`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from yatt.config.loader import load_config
from yatt.errors import ConfigError
from yatt.logs import set_log_context, setup_logging
from yatt.process.registry import process_spec
from yatt.rpc.app import instance_name


def _log_context(role: str, cfg: Any) -> None:
    """Every line from here on names the job (and a service's instance)."""
    registration = getattr(cfg, "registration", None)
    if registration is not None:
        job = registration.job or getattr(cfg, "job", None)
        set_log_context(job=job, instance=instance_name(registration, role))
    elif isinstance(getattr(cfg, "job", None), str):
        set_log_context(job=cfg.job)


def run_process(role: str, config: Path | None = None, overrides: list[str] | None = None) -> None:
    """Loads the role's config (file + `--set` overrides) and runs it until it returns."""
    spec = process_spec(role)
    setup_logging(role)
    cfg = load_config(spec.config_class(), config, overrides or [])
    _log_context(role, cfg)
    main = spec.entry_point()(cfg)
    if spec.uvloop:
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


def module_main(role: str, argv: list[str] | None = None, prog: str | None = None) -> None:
    """Command line of one role: --config, --set and the role's own flags (--job, --etcd, ...).

    A bad config prints `config error: ...` and exits 2, like the `yatt` command.
    """
    spec = process_spec(role)
    parser = argparse.ArgumentParser(prog=prog or f"python -m yatt.process {role}")
    parser.add_argument("--config", "-c", type=Path, default=None, help="YAML config file.")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="key.sub=value"
    )
    for flag, key in spec.flags.items():
        parser.add_argument(f"--{flag}", default=None, help=f"Sets {key}.")
    args = parser.parse_args(argv)
    flags = {flag: getattr(args, flag) for flag in spec.flags}
    try:
        run_process(role, args.config, [*args.overrides, *spec.flag_overrides(**flags)])
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        sys.exit(2)
