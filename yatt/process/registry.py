"""The registry of yatt processes: role -> config class and entry point.

`yatt serve`, `yatt controller`, `yatt worker`, `yatt placement run`, `python -m` of a process
package, a worker's children and the local cluster all start a process from here, so a role
is loaded, logged and run the same way wherever it starts. Classes are named by dotted path
and imported lazily: the core must not import the process packages it can start.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yatt.config.loader import ConfigModel, format_overrides
from yatt.errors import ConfigError


def _resolve(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class ProcessSpec:
    """How one role's process is configured and run."""

    role: str
    config: str  # "module:Class", a ConfigModel
    entry: str  # "module:function", `async def run(cfg) -> None`
    # Command-line flags the role takes besides --config/--set: flag -> config key.
    flags: Mapping[str, str] = field(default_factory=dict)
    service: bool = False  # one of `yatt serve`'s roles
    # The worker always ran on the stdlib loop (its children are asyncio subprocesses).
    uvloop: bool = True

    def config_class(self) -> type[ConfigModel]:
        cls: type[ConfigModel] = _resolve(self.config)
        return cls

    def entry_point(self) -> Callable[[Any], Coroutine[Any, Any, None]]:
        run: Callable[[Any], Coroutine[Any, Any, None]] = _resolve(self.entry)
        return run

    def flag_overrides(self, **flags: object) -> list[str]:
        """`--set` items for the role's flags (None = not given), values quoted."""
        unknown = set(flags) - set(self.flags)
        if unknown:
            raise ConfigError(f"{self.role} takes no flag(s) {', '.join(sorted(unknown))}")
        return format_overrides({self.flags[k]: v for k, v in flags.items()})


_JOB_ETCD = {"job": "job", "etcd": "etcd.endpoint"}


def _service(role: str, cls: str) -> ProcessSpec:
    package = f"yatt.services.{role}"
    return ProcessSpec(role, f"{package}.config:{cls}", f"{package}.app:run", service=True)


PROCESSES: dict[str, ProcessSpec] = {
    spec.role: spec
    for spec in (
        _service("rollout", "RolloutConfig"),
        _service("reward", "RewardConfig"),
        _service("reference", "ReferenceConfig"),
        _service("trainer", "TrainerConfig"),
        ProcessSpec(
            "controller",
            "yatt.controller.config:ControllerConfig",
            "yatt.controller.app:run",
            flags=_JOB_ETCD,
        ),
        ProcessSpec(
            "placement",
            "yatt.placement.config:PlacementConfig",
            "yatt.placement.app:run",
            flags=_JOB_ETCD,
        ),
        ProcessSpec(
            "worker",
            "yatt.services.worker.config:WorkerConfig",
            "yatt.services.worker.app:run",
            flags={"slot": "slot", **_JOB_ETCD},
            uvloop=False,
        ),
    )
}
SERVICE_ROLES = tuple(role for role, spec in PROCESSES.items() if spec.service)


def process_spec(role: str) -> ProcessSpec:
    """The registered role; ConfigError names the choices otherwise."""
    try:
        return PROCESSES[role]
    except KeyError:
        raise ConfigError(f"unknown role {role!r}; choose one of {', '.join(PROCESSES)}") from None


def command(
    role: str,
    config: str | Path | None = None,
    overrides: list[str] | None = None,
    *,
    python: str | None = None,
) -> list[str]:
    """The argv that runs `role` as its own process: `python -m yatt.process ROLE ...`."""
    process_spec(role)
    argv = [python or sys.executable, "-m", "yatt.process", role]
    if config is not None:
        argv += ["--config", str(config)]
    for item in overrides or []:
        argv += ["--set", item]
    return argv
