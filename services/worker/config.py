"""WorkerConfig: the slot a worker holds, and how to run each role it may be assigned.

Imports no torch and no grpc, so it loads and validates anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from yatt.config.common import EtcdConfig
from yatt.config.loader import ConfigModel


class RoleSpec(ConfigModel):
    """How the worker starts one role's service (`python -m yatt.process ROLE ...`)."""

    config: Path | None = Field(None, description="The role's service config file.")
    overrides: list[str] = Field(
        default_factory=list,
        description="Extra `--set key=value` for the role (e.g. the trainer to pull weights from).",
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables for the role's process."
    )
    start_timeout_s: float = Field(
        300.0, gt=0, description="Seconds the service may take to print its serving line."
    )


class WorkerConfig(ConfigModel):
    """A worker process: one slot of one job."""

    job: str = Field(..., description="Job whose assignments this worker follows.")
    slot: int = Field(..., ge=0, description="The slot (on a GPU machine: the GPU) it holds.")
    etcd: EtcdConfig = Field(default_factory=EtcdConfig, description="Coordination store.")
    roles: dict[str, RoleSpec] = Field(
        default_factory=dict, description="Roles this worker can host and how to start each."
    )
    device: Literal["cpu", "cuda"] = Field(
        "cpu", description="cuda: the slot is a GPU; children get CUDA_VISIBLE_DEVICES."
    )
    cuda_device: int | None = Field(
        None, ge=0, description="GPU index for CUDA_VISIBLE_DEVICES (default: the slot)."
    )
    stop_timeout_s: float = Field(
        60.0,
        gt=0,
        description="After SIGTERM a child may drain this long before SIGKILL; keep it above "
        "the child's server.grace_s.",
    )
    restart_backoff_s: float = Field(
        0.5, gt=0, description="First delay before restarting a crashed child; doubles."
    )
    restart_backoff_max_s: float = Field(
        15.0, gt=0, description="Longest delay between restarts of a crashing child."
    )
    python: str | None = Field(
        None, description="Interpreter for children (default: the worker's own)."
    )
    forward_output: bool = Field(
        True, description="Copy children's output lines to the worker's, prefixed by role."
    )
