"""The transports by name, and `auto`: shm when trainer and rollout share a host, else grpc.

Adding a transport is one file and one line in each table below.
"""

from __future__ import annotations

from typing import Any

from yatt.contracts import RolloutMember
from yatt.errors import InvalidArgument
from yatt.transport.base import WeightReceiver, WeightSender
from yatt.transport.host import host_id

CHOICES = ("auto", "grpc", "shm", "nccl")


def choose(setting: str, member: RolloutMember, local_host: str | None = None) -> str:
    """The transport for one rollout instance, given its etcd member record."""
    if setting != "auto":
        return setting
    same_host = member.host_id == (local_host or host_id())
    return "shm" if same_host and "shm" in member.weight_transports else "grpc"


def build_sender(name: str, **options: Any) -> WeightSender:
    """Trainer side; options: job (shm), chunk_bytes (grpc), host/device (nccl)."""
    if name == "grpc":
        from yatt.transport.grpc import GrpcSender

        return GrpcSender(options.get("chunk_bytes", 4 << 20))
    if name == "shm":
        from yatt.transport.shm import ShmSender

        return ShmSender(options.get("job", "default"))
    if name == "nccl":
        from yatt.transport.nccl import NcclSender

        return NcclSender(options.get("host", "127.0.0.1"), device=options.get("device", "cuda"))
    raise InvalidArgument(f"unknown weight transport {name!r} (known: {', '.join(CHOICES)})")


def build_receiver(name: str) -> WeightReceiver:
    """Rollout side of a manifest-based transport (grpc arrives through LoadWeights instead)."""
    if name == "shm":
        from yatt.transport.shm import ShmReceiver

        return ShmReceiver()
    if name == "nccl":
        from yatt.transport.nccl import NcclReceiver

        return NcclReceiver()
    raise InvalidArgument(f"weight transport {name!r} does not load from a manifest")


def offered() -> list[str]:
    """What this process can receive (published as `weight_transports` in its member info)."""
    names = ["grpc", "shm"]
    try:
        import torch

        if torch.cuda.is_available():
            names.append("nccl")
    except ImportError:
        pass
    return names
