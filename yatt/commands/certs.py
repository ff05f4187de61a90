"""`yatt certs`: writes a development CA, server and client certificates and a token.

Meant for local clusters and tests; see docs/security.md for wiring them into configs.
"""

from __future__ import annotations

from pathlib import Path

import typer


def certs(
    out: Path = typer.Option(..., "--out", help="Directory to write the PEM files into."),
    hosts: str = typer.Option(
        "127.0.0.1,localhost,::1",
        "--hosts",
        help="Comma-separated names and IPs the server cert is valid for (its SANs).",
    ),
    client_name: str = typer.Option(
        "yatt-client", "--client-name", help="Client cert common name (etcd user with mTLS)."
    ),
    days: int = typer.Option(365, "--days", min=1, help="Validity of every certificate."),
    token: bool = typer.Option(True, "--token/--no-token", help="Also write a random token."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
) -> None:
    """Make a development CA, a server cert for --hosts, a client cert and a bearer token."""
    from yatt.security.certs import make_dev_certs

    host_list = [h.strip() for h in hosts.split(",") if h.strip()]
    if not host_list:
        raise typer.BadParameter("at least one host", param_hint="--hosts")
    try:
        files = make_dev_certs(out, host_list, client_name, days, token, force)
    except FileExistsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for label, path in vars(files).items():
        if path is not None:
            typer.echo(f"{label:12s} {path}")
