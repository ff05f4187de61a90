"""Following a job: a live progress bar (shards, step, reward, KL, slots) until it ends.

Used by `yatt train` and `yatt up`.
"""

from __future__ import annotations

import asyncio
import sys
import time

import aetcd

from yatt.jobs import JobProgress, read_progress


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
        print(f"job {job} failed: {progress.reason}", file=sys.stderr)
        return 1
    print(f"job {job} done: {progress.shards_done} shards, {progress.samples} samples")
    return 0
