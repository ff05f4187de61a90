"""`yatt placement run|status|init`: the placement service, its map and move history.

`status` and `init` talk to etcd directly, so they work whether or not a placement runs.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from yatt.defaults import DEFAULT_ETCD

app = typer.Typer(
    name="placement",
    help="Move worker slots between roles as load shifts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

JobOpt = Annotated[str | None, typer.Option("--job", help="Job id (overrides the config's job).")]
EtcdOpt = Annotated[
    str | None, typer.Option("--etcd", help=f"etcd host:port (default {DEFAULT_ETCD}).")
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Placement YAML config.")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Override a key: key.sub=value.")]


def _load(
    config: Path | None, job: str | None, etcd: str | None, overrides: list[str] | None
) -> Any:
    from yatt.placement.config import load_placement_config
    from yatt.process.registry import process_spec

    flags = process_spec("placement").flag_overrides(job=job, etcd=etcd)
    return load_placement_config(config, [*(overrides or []), *flags])


@app.command()
def run(
    config: ConfigOpt = None,
    job: JobOpt = None,
    etcd: EtcdOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Run a placement process (leader or standby) until SIGTERM."""
    from yatt.process.main import run_process
    from yatt.process.registry import process_spec

    flags = process_spec("placement").flag_overrides(job=job, etcd=etcd)
    run_process("placement", config, [*(overrides or []), *flags])


@app.command()
def init(
    config: ConfigOpt = None,
    job: JobOpt = None,
    etcd: EtcdOpt = None,
    overrides: SetOpt = None,
) -> None:
    """Write the starting slot map from the config, unless the job already has one."""
    cfg = _load(config, job, etcd, overrides)

    async def go() -> bool:
        from yatt.coordination.client import connect
        from yatt.placement.core import PlacementCore
        from yatt.placement.store import init_assignments

        client = await connect(cfg.etcd)
        try:
            return await init_assignments(client, cfg.job, PlacementCore(cfg).initial_assignments())
        finally:
            await client.close()

    written = asyncio.run(go())
    typer.echo(
        f"job {cfg.job}: " + ("starting map written" if written else "already assigned; unchanged")
    )


@app.command()
def status(
    job: Annotated[str, typer.Option("--job", help="Job id.")],
    etcd: EtcdOpt = None,
    history: Annotated[int, typer.Option(help="Newest moves to show.")] = 20,
) -> None:
    """Print the current slot map (with what each worker serves) and the move history."""
    snapshot = asyncio.run(_status(job, etcd or DEFAULT_ETCD, history))
    print_status(job, snapshot)


async def _status(job: str, endpoint: str, last: int) -> dict[str, Any]:
    from yatt import keys
    from yatt.config.common import EtcdConfig
    from yatt.coordination.client import connect
    from yatt.placement.history import read_history
    from yatt.placement.leader import read_loads, read_workers
    from yatt.placement.store import read_assignments

    client = await connect(EtcdConfig(endpoint=endpoint))
    try:
        leader = await client.get(keys.placement_leader(job).encode())
        return {
            "leader": leader.value.decode() if leader else None,
            "assignments": await read_assignments(client, job),
            "workers": await read_workers(client, job),
            "loads": await read_loads(client, job, time.time()),
            "history": await read_history(client, job, last),
        }
    finally:
        await client.close()


def print_status(job: str, snap: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"job [bold]{job}[/]  placement leader: {snap['leader'] or '(none)'}")
    slots = Table(title="slots")
    for col in ("slot", "assigned", "worker serves", "state", "endpoints"):
        slots.add_column(col)
    workers = snap["workers"]
    for slot in sorted(set(snap["assignments"]) | set(workers)):
        info = workers.get(slot)
        slots.add_row(
            str(slot),
            snap["assignments"].get(slot, "-"),
            str(info.role or "-") if info else "-",
            info.state.value if info else "no worker",
            " ".join(f"{r}={e}" for r, e in info.endpoints.items()) if info else "",
        )
    console.print(slots)
    loads = Table(title="load per role")
    for col in ("role", "instances", "queued", "in flight", "busy", "tokens/s"):
        loads.add_column(col, justify="right")
    by_role: dict[str, list[Any]] = {}
    for sample in snap["loads"]:
        by_role.setdefault(sample.role, []).append(sample)
    for role, samples in sorted(by_role.items()):
        loads.add_row(
            role,
            str(len(samples)),
            f"{sum(s.queue_depth for s in samples):.0f}",
            f"{sum(s.in_flight for s in samples):.0f}",
            f"{sum(s.busy_fraction for s in samples) / len(samples):.0%}",
            f"{sum(s.tokens_per_s for s in samples):.0f}",
        )
    console.print(loads)
    moves = Table(title="moves (oldest first)")
    for col in ("time", "slot", "from", "to", "queue depths", "reason"):
        moves.add_column(col)
    for move in snap["history"]:
        depths = " ".join(f"{r}={d:.0f}" for r, d in sorted(move.queue_depths.items()))
        stamp = time.strftime("%H:%M:%S", time.localtime(move.time))
        moves.add_row(stamp, str(move.slot), move.from_role, move.to_role, depths, move.reason)
    console.print(moves)
