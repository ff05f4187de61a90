"""Runs deploy/docker-compose.yml's services as local processes (no container engine here).

Each service's own command runs with the etcd address, ports, bind hosts and mounted paths
substituted; depends_on conditions and healthchecks are honoured the way compose does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from yatt.process.handle import ProcessHandle
from yatt.process.ports import free_port

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "deploy" / "docker-compose.yml"
GRPC_PORT, METRICS_PORT = 50051, 9090


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # PyYAML resolves the x- anchors and << merges


def start_order(services: dict[str, Any]) -> list[str]:
    """Topological order of depends_on (compose starts dependencies first)."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...] = ()) -> None:
        assert name not in path, f"depends_on cycle through {name}"
        if name in order:
            return
        for dep in services[name].get("depends_on") or {}:
            visit(dep, (*path, name))
        order.append(name)

    for name in services:
        visit(name)
    return order


class LocalCompose:
    """Starts compose services as processes under run_dir; stop() ends them by PID."""

    def __init__(self, run_dir: Path, env: dict[str, str] | None = None) -> None:
        self.spec = load_compose()
        self.services: dict[str, Any] = self.spec["services"]
        self.run_dir = run_dir
        self.extra_env = env or {}
        self.etcd_port, self.peer_port = free_port(), free_port()
        self.volumes = {name: run_dir / "volumes" / name for name in self.spec.get("volumes", {})}
        self.configs = run_dir / "configs"
        self.processes: dict[str, ProcessHandle] = {}
        self.ports: dict[str, dict[int, int]] = {}  # instance -> container port -> local port
        self._healthy: set[str] = set()

    # -- substitution -------------------------------------------------------------------------

    def _mounts(self, service: dict[str, Any]) -> dict[str, Path]:
        """Container path -> host path: bind mounts (configs, copied and localized) and volumes."""
        out = {}
        for entry in service.get("volumes") or []:
            source, target = entry.split(":")[:2]
            if source.startswith("."):
                out[target] = self.configs  # ./configs, rewritten by _localize_configs
            else:
                out[target] = self.volumes[source]
        return out

    def _localize_configs(self) -> None:
        """deploy/configs copied with the container paths they name turned into host paths."""
        mounts: dict[str, Path] = {}
        for service in self.services.values():
            mounts.update(self._mounts(service))
        self.configs.mkdir(parents=True, exist_ok=True)
        for src in (COMPOSE.parent / "configs").iterdir():
            text = src.read_text()
            for target, host in sorted(mounts.items(), key=lambda kv: -len(kv[0])):
                text = text.replace(target, str(host))
            (self.configs / src.name).write_text(text)
        for path in self.volumes.values():
            path.mkdir(parents=True, exist_ok=True)

    def localize(self, text: str, service: dict[str, Any], ports: dict[int, int]) -> str:
        for target, host in sorted(self._mounts(service).items(), key=lambda kv: -len(kv[0])):
            text = re.sub(rf"(?<![\w/]){re.escape(target)}(?=/|$|\b)", str(host), text)
        text = re.sub(
            r"\b(etcd|0\.0\.0\.0|127\.0\.0\.1):2379\b", f"127.0.0.1:{self.etcd_port}", text
        )
        text = re.sub(
            r"\b(etcd|0\.0\.0\.0|127\.0\.0\.1):2380\b", f"127.0.0.1:{self.peer_port}", text
        )
        for container, local in ports.items():
            text = re.sub(rf"\b{container}\b", str(local), text)
        names = "|".join(map(re.escape, self.services))
        text = re.sub(rf"(advertise_host=)({names})\b", r"\g<1>127.0.0.1", text)
        return text.replace("0.0.0.0", "127.0.0.1")

    def _command(self, service: dict[str, Any], ports: dict[int, int]) -> list[str]:
        command = service["command"]
        argv = command if isinstance(command, list) else command.split()
        # "$$" is compose's escape for a literal "$" (no variable interpolation).
        return [self.localize(str(arg).replace("$$", "$"), service, ports) for arg in argv]

    def _env(self, service: dict[str, Any], ports: dict[int, int]) -> dict[str, str]:
        env = {
            k: self.localize(str(v), service, ports)
            for k, v in (service.get("environment") or {}).items()
        }
        # `yatt` and `etcdctl` resolve as inside the image: this interpreter's bin first.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        return {**env, **self.extra_env}

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, name: str) -> list[str]:
        """Starts every replica of service `name`; returns the instance names."""
        service = self.services[name]
        if not self.processes:
            self._localize_configs()
        replicas = int((service.get("deploy") or {}).get("replicas", 1))
        instances = [name] if replicas == 1 else [f"{name}-{i + 1}" for i in range(replicas)]
        for instance in instances:
            ports = {GRPC_PORT: free_port(), METRICS_PORT: free_port()}
            self.ports[instance] = ports
            argv = self._command(service, ports)
            log = self.run_dir / "logs" / f"{instance}.log"
            proc = ProcessHandle(
                argv, name=instance, log_path=log, env=self._env(service, ports)
            ).start()
            self.processes[instance] = proc
        return instances

    def healthy(self, name: str, timeout: float = 240.0) -> None:
        """Runs the service's healthcheck command until it passes (compose's service_healthy)."""
        if name in self._healthy:
            return
        service = self.services[name]
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD", test
        argv = [self.localize(str(a), service, self.ports[name]) for a in test[1:]]
        env = {**os.environ, **self._env(service, self.ports[name])}
        deadline = time.monotonic() + timeout
        while True:
            proc = self.processes[name]
            if not proc.alive():
                raise RuntimeError(f"{name} exited ({proc.returncode}):\n{proc.tail()}")
            done = subprocess.run(argv, env=env, capture_output=True, timeout=60, check=False)
            if done.returncode == 0:
                self._healthy.add(name)
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not healthy in {timeout}s:\n{proc.tail()}")
            time.sleep(1.0)

    def completed(self, name: str, timeout: float = 240.0) -> None:
        """Waits for a one-shot service to exit 0 (service_completed_successfully)."""
        proc = self.processes[name]
        code = proc.wait(timeout)
        assert code == 0, f"{name} exited {code}:\n{proc.tail()}"

    def up(self) -> None:
        """Starts every service in depends_on order, honouring each condition."""
        for name in start_order(self.services):
            for dep, spec in (self.services[name].get("depends_on") or {}).items():
                condition = (spec or {}).get("condition", "service_started")
                if condition == "service_healthy":
                    self.healthy(dep)
                elif condition == "service_completed_successfully":
                    self.completed(dep)
            self.start(name)

    def stop(self) -> None:
        for instance in reversed(list(self.processes)):
            self.processes[instance].stop(timeout=20)

    def cleanup(self) -> None:
        shutil.rmtree(self.run_dir / "volumes" / "etcd-data", ignore_errors=True)
