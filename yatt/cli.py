"""The `yatt` command: each subcommand lives in yatt/commands/<name>.py and is wired here."""

from __future__ import annotations

import sys

import typer

from yatt.commands.certs import certs
from yatt.commands.controller import controller
from yatt.commands.init_model import init_model
from yatt.commands.make_task import make_task
from yatt.commands.ping import ping
from yatt.commands.placement import app as placement_app
from yatt.commands.serve import serve
from yatt.commands.sft import sft
from yatt.commands.status import status
from yatt.commands.train import train
from yatt.commands.up import demo, up
from yatt.commands.worker import worker
from yatt.errors import ConfigError

app = typer.Typer(
    name="yatt",
    help="RLHF trainer built as asyncio gRPC microservices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(demo)
app.command()(up)
app.command()(serve)
app.command()(train)
app.command()(status)
app.command()(controller)
app.command()(ping)
app.command()(certs)
app.command()(worker)
app.add_typer(placement_app, name="placement")
app.command(name="init-model")(init_model)
app.command(name="make-task")(make_task)
app.command()(sft)


@app.command()
def version() -> None:
    """Print the yatt version."""
    from yatt import __version__

    typer.echo(__version__)


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        typer.echo(f"config error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
