"""`yatt up`: start a whole local cluster, run one job to the end, report, stop everything.

etcd, trainer, rollout/reward/reference services (fixed, or hosted by placed worker slots)
and controllers each run as their own process with a log under <run>/logs; on exit or Ctrl-C
every one of them is stopped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

from yatt.cluster.config import UpConfig
from yatt.cluster.local import LocalCluster
from yatt.cluster.placed import placed_roles, start_placed, wait_workers, write_placed
from yatt.cluster.prepare import prepare_model, prepare_task
from yatt.config import dump_config
from yatt.defaults import JOB_START_ENV

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]


def run_dir_for(cfg: UpConfig) -> Path:
    return Path(cfg.out or f"runs/{cfg.job.job}-{time.strftime('%Y%m%d-%H%M%S')}").resolve()


def trainer_config(cfg: UpConfig, model: Path, run_dir: Path) -> dict[str, Any]:
    base: dict[str, Any] = {
        "job": cfg.job.job,
        "model": str(model),
        "out_dir": str(run_dir / "trainer"),
        "push_weights": True,
    }
    return {**base, **cfg.trainer}


def start_services(cluster: LocalCluster, cfg: UpConfig, model: Path, run_dir: Path) -> None:
    env = {
        "DS_ACCELERATOR": os.environ.get("DS_ACCELERATOR", "cpu"),
        "TORCH_EXTENSIONS_DIR": os.environ.get(
            "TORCH_EXTENSIONS_DIR", str(REPO / ".torch_extensions")
        ),
    }
    model_section = {"model": {"path": str(model)}}
    groups = {"rollout": cfg.rollout, "reward": cfg.reward, "reference": cfg.reference}
    configs = {
        role: {**(model_section if role != "reward" else {}), **group.config}
        for role, group in groups.items()
    }
    placed = placed_roles(cfg)
    if placed:  # checked and written before anything starts
        paths = write_placed(cluster, cfg, {r: c for r, c in configs.items() if r in placed})
    cluster.serve("trainer", "trainer", trainer_config(cfg, model, run_dir), wait=False, env=env)
    for role, group in groups.items():
        if role in placed or (role == "reference" and not cfg.job.use_reference):
            continue
        for i in range(group.replicas):
            cluster.serve(role, f"{role}-{i}", configs[role], wait=False)
    if placed:
        start_placed(cluster, cfg, paths)
    for name in list(cluster.processes):
        if not name.startswith(("worker-", "placement-")):
            cluster.wait_ready(name, timeout=cfg.startup_timeout_s)
    if cfg.placement.enabled:
        slots = wait_workers(cluster, cfg)
        print("slots " + " ".join(f"{s}:{r}" for s, r in sorted(slots.items())), flush=True)


async def run_job(cluster: LocalCluster, cfg: UpConfig, start_file: Path | None = None) -> int:
    from yatt.config.common import EtcdConfig
    from yatt.coordination.client import connect
    from yatt.follow import follow
    from yatt.jobs import submit

    client = await connect(EtcdConfig(endpoint=cluster.etcd_endpoint))
    try:
        shards = await submit(client, cfg.job)
        if start_file is not None:
            await asyncio.to_thread(start_file.write_text, f"{time.time():.3f}")
        print(f"job {cfg.job.job}: {shards} shards; {cfg.controllers} controllers", flush=True)
        for i in range(cfg.controllers):
            cluster.controller(f"controller-{i}")
        return await follow(client, cfg.job.job)
    finally:
        await client.close()


def up(cfg: UpConfig) -> int:
    """Runs the job end to end; returns the process exit code (0 when the job is done)."""
    from yatt.cluster.report import write_report

    run_dir = run_dir_for(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    print(f"run directory: {run_dir}", flush=True)
    train_data = prepare_task(cfg, run_dir)
    if train_data is not None and cfg.job.data.path in ("", "auto"):
        cfg.job.data.path = str(train_data)
    model = prepare_model(cfg, train_data)
    (run_dir / "up.yaml").write_text(dump_config(cfg))
    # Every process (and worker child) can read the job start, e.g. for sim reward schedules.
    job_start = run_dir / "job_start"
    job_start.unlink(missing_ok=True)
    env = {JOB_START_ENV: str(job_start)}
    cluster = LocalCluster(run_dir, job=cfg.job.job, lease_ttl_s=cfg.lease_ttl_s, env=env)
    code = 1
    try:
        cluster.start_etcd()
        print(
            f"etcd on {cluster.etcd_endpoint}; starting services (logs in {run_dir / 'logs'})",
            flush=True,
        )
        start_services(cluster, cfg, model, run_dir)
        code = asyncio.run(run_job(cluster, cfg, job_start))
        if code == 0:
            submitted = float(job_start.read_text()) if job_start.exists() else None
            write_report(cluster, cfg, run_dir, model, time.time() - started, submitted)
    except KeyboardInterrupt:
        print("interrupted: stopping the cluster", flush=True)
        code = 130
    finally:
        cluster.stop()
    return code
