"""`yatt status JOB`: where a job stands (shards, trainer step and version, controllers)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from yatt.defaults import DEFAULT_ETCD


async def _status(job: str, etcd: str) -> int:
    from rich.console import Console
    from rich.table import Table

    from yatt.config.common import EtcdConfig
    from yatt.coordination.client import connect
    from yatt.jobs import read_progress

    client = await connect(EtcdConfig(endpoint=etcd))
    try:
        p = await read_progress(client, job)
    finally:
        await client.close()
    if p.shards_total == 0 and p.state == "running":
        typer.echo(f"no job {job!r} in etcd at {etcd}", err=True)
        return 1
    table = Table(title=f"job {job}", show_header=False)
    table.add_row("state", p.state + (f" ({p.reason})" if p.reason else ""))
    table.add_row("shards", f"{p.shards_done}/{p.shards_total} done, {p.shards_claimed} claimed")
    table.add_row("samples", str(p.samples))
    if p.reward_by_shard:
        table.add_row(
            "reward (last 5 shards)",
            f"{sum(p.reward_by_shard[-5:]) / len(p.reward_by_shard[-5:]):.3f}",
        )
    table.add_row(
        "trainer",
        f"step {p.trainer.step}, version {p.trainer.weight_version}",
    )
    table.add_row("controllers", str(p.controllers))
    Console().print(table)
    return 1 if p.state == "failed" else 0


def status(
    job: Annotated[str, typer.Argument(help="Job name.")],
    etcd: Annotated[str, typer.Option(help="etcd host:port.")] = DEFAULT_ETCD,
) -> None:
    """Print where a job stands."""
    raise typer.Exit(asyncio.run(_status(job, etcd)))
