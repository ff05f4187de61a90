"""`yatt train CONFIG`: submit a job to a running cluster and follow it with a progress bar."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from yatt.defaults import DEFAULT_ETCD

if TYPE_CHECKING:
    import aetcd

    from yatt.jobs import JobProgress


def _line(progress: JobProgress) -> str:
    """One line of what matters while a job runs: step, version, reward, KL, controllers, and
    the slot map (with placement: slot -> role; else role -> instances)."""
    trainer = progress.trainer
    recent = progress.reward_by_shard[-5:]
    parts = [f"step {trainer.step}", f"v{trainer.weight_version}"]
    parts.append(f"reward {sum(recent) / len(recent):.3f}" if recent else "reward -")
    kl = trainer.metrics.get("kl")
    if kl is not None:
        parts.append(f"kl {kl:.4f}")
    parts.append(f"{progress.controllers} controllers")
    if progress.slots:  # placement: slot -> role, "*" while the slot's worker is switching
        parts.append(
            "slots "
            + " ".join(
                f"{s}:{u}{'' if progress.serving.get(s) == u else '*'}"
                for s, u in progress.slots.items()
            )
        )
    elif progress.roles:
        parts.append("slots " + " ".join(f"{r}:{n}" for r, n in progress.roles.items()))
    return "  ".join(parts)


async def follow(client: aetcd.Client, job: str, poll_s: float = 1.0) -> int:
    """Live progress until the job is done (0) or failed (1)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from yatt.jobs import read_progress

    start = time.monotonic()
    columns = (
        TextColumn("[bold]{task.fields[job]}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[line]}"),
        TextColumn("{task.fields[rate]}"),
    )
    with Progress(*columns, refresh_per_second=4) as bar:
        task = bar.add_task("shards", total=None, job=job, line="", rate="")
        while True:
            progress = await read_progress(client, job)
            elapsed = max(time.monotonic() - start, 1e-6)
            bar.update(
                task,
                total=progress.shards_total,
                completed=progress.shards_done,
                line=_line(progress),
                rate=f"{progress.samples / elapsed:.1f} samples/s",
            )
            if progress.finished:
                break
            await asyncio.sleep(poll_s)
    if progress.state == "failed":
        typer.echo(f"job {job} failed: {progress.reason}", err=True)
        return 1
    typer.echo(f"job {job} done: {progress.shards_done} shards, {progress.samples} samples")
    return 0


async def _train(config: Path, overrides: list[str], etcd: str | None, follow_job: bool) -> int:
    from yatt.config import load_config
    from yatt.config.common import EtcdConfig
    from yatt.controller.config import JobConfig
    from yatt.coordination.client import connect
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
