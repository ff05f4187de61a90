"""Shared by the worker tests: role configs on disk and real worker processes."""

from __future__ import annotations

from pathlib import Path

import yaml

from yatt.config.common import EtcdConfig
from yatt.process.handle import ProcessHandle


def write_role_configs(root: Path, model_dir: Path) -> Path:
    """A worker config whose roles are the real reward (exact answer) and reference services."""
    (root / "reward.yaml").write_text(yaml.safe_dump({"functions": [{"name": "exact_answer"}]}))
    reference = {"model": {"path": str(model_dir)}, "threads": 1}
    (root / "reference.yaml").write_text(yaml.safe_dump(reference))
    worker = {
        "roles": {
            "reward": {"config": str(root / "reward.yaml")},
            "reference": {"config": str(root / "reference.yaml")},
        },
        "stop_timeout_s": 30,
        "restart_backoff_s": 0.2,
    }
    path = root / "worker.yaml"
    path.write_text(yaml.safe_dump(worker))
    return path


def start_worker(slot: int, job: str, etcd: EtcdConfig, config: Path) -> ProcessHandle:
    argv = ["-m", "yatt.services.worker", "--slot", str(slot), "--job", job]
    argv += ["--etcd", etcd.endpoint, "--config", str(config), "--set", "etcd.lease_ttl_s=2"]
    return ProcessHandle.python(*argv, name=f"worker-{slot}").start()
