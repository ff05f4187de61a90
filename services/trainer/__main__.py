"""`python -m yatt.services.trainer --config F --set k=v`: the same as `yatt serve trainer`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from yatt.commands.serve import run_service
from yatt.errors import ConfigError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m yatt.services.trainer")
    parser.add_argument("--config", "-c", type=Path, default=None, help="YAML config file.")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="key=value")
    args = parser.parse_args(argv)
    try:
        run_service("trainer", args.config, args.overrides)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
