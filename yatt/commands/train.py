"""`yatt train CONFIG`: submit a job to a running cluster and follow it with a progress bar."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from yatt.defaults import DEFAULT_ETCD


async def _train(config: Path, overrides: list[str], etcd: str | None, follow_job: bool) -> int:
    from yatt.config import load_config
    from yatt.config.common import EtcdConfig
    from yatt.controller.config import JobConfig
    from yatt.coordination.client import connect
    from yatt.follow import follow
    from yatt.jobs import submit

    job = load_config(JobConfig, config, overrides)
    client = await connect(EtcdConfig(endpoint=etcd or DEFAULT_ETCD))
    try:
        shards = await submit(client, job)
        typer.echo(f"submitted job {job.job}: {shards} shards over {job.data.epochs} epoch(s)")
        return await follow(client, job.job) if follow_job else 0
    finally:
        await client.close()


def train(
    config: Annotated[Path, typer.Argument(help="Job config YAML (see examples/).")],
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config key: key.sub=value.")
    ] = None,
    etcd: Annotated[str | None, typer.Option(help="etcd host:port.")] = None,
    follow_job: Annotated[
        bool, typer.Option("--follow/--no-follow", help="Show progress until the job ends.")
    ] = True,
) -> None:
    """Submit a training job to a running cluster and follow it."""
    raise typer.Exit(asyncio.run(_train(config, overrides or [], etcd, follow_job)))
