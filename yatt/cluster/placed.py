"""Placed roles of a local run: `slots` workers host rollout/reward/reference and a placement
process (plus an optional standby) moves slots between them while the job runs.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from yatt.cluster.config import UpConfig
from yatt.cluster.local import LocalCluster
from yatt.errors import ConfigError
from yatt.process.registry import process_spec

WORKER_SERVING = r"yatt worker slot {slot} serving (\S+)"
PLACEMENT_LEADING = "yatt placement leading job"


def placed_roles(cfg: UpConfig) -> list[str]:
    """Roles hosted by workers (empty when placement is off)."""
    return list(cfg.placement.roles) if cfg.placement.enabled else []


def placement_config(cfg: UpConfig, etcd_endpoint: str) -> dict[str, Any]:
    """The `yatt placement run` config for this job, cross-checked (ConfigError names the key)."""
    from yatt.placement.config import load_placement_config

    setup = cfg.placement
    data: dict[str, Any] = {
        "job": cfg.job.job,
        "slots": setup.slots,
        "roles": {r: lim.model_dump() for r, lim in setup.roles.items()},
        "policy": setup.policy.model_dump(),
        "estimator": setup.estimator.model_dump(),
        "tick_s": setup.tick_s,
        "server": {"port": 0},
        "etcd": {"endpoint": etcd_endpoint, "lease_ttl_s": cfg.lease_ttl_s},
    }
    try:
        load_placement_config(data=data).check()
    except ConfigError as exc:
        raise ConfigError(f"placement.{exc}") from None
    if "trainer" in setup.roles:
        raise ConfigError("placement.roles.trainer: the trainer stays fixed in `yatt up`")
    return data


def role_config(cluster: LocalCluster, role: str, config: dict[str, Any]) -> dict[str, Any]:
    """A placed role's service config: like a fixed service's, but with no instance name, so
    every child a worker starts registers under its own (host-pid) name and the trainer's
    weight pusher sees a rollout started mid-job as a new member that needs the weights."""
    wired = cluster.service_config(role, config)
    wired["registration"] = {
        k: v for k, v in wired["registration"].items() if k not in ("instance", "slot")
    }
    return wired


def check_role_config(role: str, path: Path) -> None:
    """Loads a placed role's config now: a bad key fails `yatt up` at once, naming the section,
    rather than every worker retrying a child that cannot start."""
    from yatt.config import load_config

    try:
        load_config(process_spec(role).config_class(), path)
    except ConfigError as exc:
        raise ConfigError(f"{role}.config: {exc}") from None


def write_placed(
    cluster: LocalCluster, cfg: UpConfig, role_configs: dict[str, dict[str, Any]]
) -> tuple[Path, Path]:
    """Checks and writes the placement and worker configs; (placement, worker) paths.

    role_configs: role -> its service config (model path and the UpConfig section merged).
    Runs before any service starts, so a bad key fails `yatt up` at once.
    """
    placement = cluster.write_config("placement", placement_config(cfg, cluster.etcd_endpoint))
    roles = {}
    for role, config in role_configs.items():
        path = cluster.write_config(f"role-{role}", role_config(cluster, role, config))
        check_role_config(role, path)
        roles[role] = {"config": str(path), "start_timeout_s": cfg.startup_timeout_s}
    worker = {
        "job": cfg.job.job,
        "slot": 0,  # each process gets --slot
        "etcd": {"endpoint": cluster.etcd_endpoint, "lease_ttl_s": cfg.lease_ttl_s},
        "roles": roles,
        "stop_timeout_s": 30.0,
        **cfg.placement.worker,
    }
    from yatt.services.worker.config import WorkerConfig

    try:
        WorkerConfig.model_validate(worker)
    except ValueError as exc:
        raise ConfigError(f"placement.worker: {exc}") from None
    return placement, cluster.write_config("worker", worker)


def start_placed(cluster: LocalCluster, cfg: UpConfig, paths: tuple[Path, Path]) -> None:
    """Starts placement (the leader, then a standby) and the workers; does not wait for them."""
    placement, worker = paths
    leader = cluster.start("placement-0", "placement", placement)
    leader.wait_for_line(PLACEMENT_LEADING, cfg.startup_timeout_s)
    if cfg.placement.standby:
        cluster.start("placement-1", "placement", placement)
    for slot in range(cfg.placement.slots):
        sets = process_spec("worker").flag_overrides(slot=slot)
        cluster.start(f"worker-{slot}", "worker", worker, sets)


def wait_workers(cluster: LocalCluster, cfg: UpConfig) -> dict[int, str]:
    """Blocks until every worker serves its first role; slot -> role. A child that cannot
    start for a config error fails at once (its worker would retry it forever)."""
    deadline = time.monotonic() + cfg.startup_timeout_s
    out: dict[int, str] = {}
    while len(out) < cfg.placement.slots:
        for slot in range(cfg.placement.slots):
            proc = cluster.processes[f"worker-{slot}"]
            text = proc.output()
            found = re.search(WORKER_SERVING.format(slot=slot), text)
            if found:
                out[slot] = found.group(1)
            elif "config error:" in text or not proc.alive():
                raise RuntimeError(f"worker-{slot} cannot start its role:\n{proc.tail()}")
        if time.monotonic() > deadline:
            missing = [s for s in range(cfg.placement.slots) if s not in out]
            raise TimeoutError(f"worker slots {missing} not serving in {cfg.startup_timeout_s}s")
        time.sleep(0.2)
    return out
