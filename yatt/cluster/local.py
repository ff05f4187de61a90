"""LocalCluster: etcd, services and controllers of one job as local processes.

Used by `yatt up` and by the end-to-end tests; every process starts through the process
registry (`python -m yatt.process ROLE`), writes its own log under run_dir/logs and is
stopped by PID in reverse start order.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from yatt.cluster.etcd import EtcdServer
from yatt.config.loader import format_overrides
from yatt.process.handle import ProcessHandle
from yatt.process.registry import command, process_spec

log = logging.getLogger(__name__)

SERVING = r"yatt \S+ serving on (\S+)"


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


class LocalCluster:
    """Starts and stops the processes of one job on this machine."""

    def __init__(
        self,
        run_dir: Path,
        job: str,
        etcd_endpoint: str | None = None,
        lease_ttl_s: int = 3,
        env: dict[str, str] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.job = job
        self.lease_ttl_s = lease_ttl_s
        self.env = {"OMP_NUM_THREADS": "1", **(env or {})}
        self.etcd: EtcdServer | None = None
        self._etcd_endpoint = etcd_endpoint
        self.processes: dict[str, ProcessHandle] = {}
        self.endpoints: dict[str, str] = {}

    @property
    def etcd_endpoint(self) -> str:
        if self._etcd_endpoint is None:
            raise RuntimeError("etcd is not started")
        return self._etcd_endpoint

    def start_etcd(self) -> str:
        """Our own etcd on a free loopback port, data under run_dir (unless one was given)."""
        if self._etcd_endpoint is None:
            data = self.run_dir / "etcd"
            data.mkdir(parents=True, exist_ok=True)
            self.etcd = EtcdServer(data_dir=str(data), name=f"yatt-{self.job}").start()
            self._etcd_endpoint = self.etcd.endpoint
        return self.etcd_endpoint

    def _log(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{name}.log"

    def write_config(self, name: str, config: dict[str, Any]) -> Path:
        path = self.run_dir / "configs" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def service_config(self, name: str, config: dict[str, Any]) -> dict[str, Any]:
        """config with this cluster's etcd, job registration and a free port filled in."""
        wiring = {
            "server": {"port": 0},
            "etcd": {"endpoint": self.etcd_endpoint, "lease_ttl_s": self.lease_ttl_s},
            "registration": {"job": self.job, "instance": name},
        }
        return _merge(wiring, config)

    def start(
        self,
        name: str,
        role: str,
        config: Path | None = None,
        overrides: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> ProcessHandle:
        """Starts a registered role as the cluster process `name`; does not wait for it."""
        proc = ProcessHandle(
            command(role, config, overrides),
            name=name,
            log_path=self._log(name),
            env={**self.env, **(env or {})},
        ).start()
        self.processes[name] = proc
        return proc

    def serve(
        self,
        role: str,
        name: str,
        config: dict[str, Any],
        *,
        wait: bool = True,
        timeout: float = 180.0,
        env: dict[str, str] | None = None,
    ) -> ProcessHandle:
        """Starts service ROLE with config (etcd, job, port wired in)."""
        path = self.write_config(name, self.service_config(name, config))
        proc = self.start(name, role, path, env=env)
        if wait:
            self.wait_ready(name, timeout)
        return proc

    def wait_ready(self, name: str, timeout: float = 180.0) -> str:
        self.endpoints[name] = self.processes[name].wait_for_match(SERVING, timeout).group(1)
        return self.endpoints[name]

    def controller(self, name: str, extra: list[str] | None = None) -> ProcessHandle:
        """A controller of this job; extra: more `--set` items."""
        sets = process_spec("controller").flag_overrides(job=self.job, etcd=self.etcd_endpoint)
        sets += format_overrides({"instance": name, "etcd.lease_ttl_s": self.lease_ttl_s})
        return self.start(name, "controller", overrides=[*sets, *(extra or [])])

    def stop(self) -> None:
        """Stops every process, newest first, then etcd; never touches anything else."""
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.alive():
                log.info("stopping %s (pid %d)", name, proc.pid)
                proc.stop(timeout=20)
        if self.etcd is not None:
            self.etcd.stop()
            self.etcd = None

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
