"""The `yatt` command line is deliberate: every command and option, compared with a snapshot.

Next to the RPC surface snapshot (test_protos.py): a renamed flag or a changed default breaks
scripts and deployments as surely as a renamed RPC does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import typer.main

from yatt.cli import app

pytestmark = pytest.mark.unit

SNAPSHOT = Path(__file__).with_name("cli_surface.txt")
UPDATE_ENV = "YATT_UPDATE_SNAPSHOTS"


# Duck-typed on click's Parameter attributes: typer ships its own copy of click.
def _param(param: Any) -> str:
    if param.param_type_name == "argument":
        text = (param.name or "").upper()
    else:
        text = "/".join(sorted([*param.opts, *param.secondary_opts], key=lambda o: (len(o), o)))
        if getattr(param, "is_flag", False):
            text += " flag"
    if param.multiple:
        text += " multiple"
    if param.required:
        text += " required"
    elif param.default is not None and not callable(param.default):
        text += f" default={param.default!r}"
    return text


def _lines(command: Any, path: str) -> list[str]:
    out = [path]
    out += [f"  {_param(p)}" for p in command.params if p.name != "help"]
    subcommands = getattr(command, "commands", {})
    for name in sorted(subcommands):
        out += _lines(subcommands[name], f"{path} {name}")
    return out


def surface() -> str:
    """One line per command, then one per argument or option (names, kind, default)."""
    return "\n".join(_lines(typer.main.get_command(app), "yatt")) + "\n"


def test_cli_surface_snapshot() -> None:
    found = surface()
    if os.environ.get(UPDATE_ENV) == "1":
        SNAPSHOT.write_text(found)
    expected = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    assert found == expected, (
        f"the yatt command line differs from tests/unit/{SNAPSHOT.name}; if the change is "
        f"deliberate, update the snapshot: {UPDATE_ENV}=1 pytest tests/unit/test_cli_surface.py"
    )
