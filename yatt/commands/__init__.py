"""One file per CLI command; yatt/cli.py only wires them into the typer app."""
