"""GPU transport: rank 0 of the trainer broadcasts each tensor to a rollout's GPU over NCCL.

The manifest (names, dtypes, shapes) goes over gRPC with the rendezvous address as its handle;
each rollout instance joins its own two-rank group once (TCPStore held by the trainer) and keeps it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import torch

from yatt.errors import FailedPrecondition, InvalidArgument, Unavailable
from yatt.transport.base import Delivery, WeightLoader, WeightReceiver, WeightSender
from yatt.transport.manifest import WeightManifest, check_entries, layout

TIMEOUT = timedelta(seconds=120)
# Reaching the trainer's rendezvous store: a handle naming a host where nothing listens must
# fail within seconds, not hold a thread (and a SIGTERM) for TIMEOUT.
CONNECT_TIMEOUT = timedelta(seconds=5)


def require_nccl() -> None:
    import torch.distributed as dist

    if not torch.cuda.is_available() or not dist.is_nccl_available():
        raise FailedPrecondition("the nccl weight transport needs CUDA and NCCL")


def connect_store(host: str, port: int, timeout: timedelta = CONNECT_TIMEOUT) -> Any:
    """A client of the trainer's TCPStore, or Unavailable when it cannot be reached in time."""
    import torch.distributed as dist

    try:
        store = dist.TCPStore(host, port, is_master=False, timeout=timeout)
    except (RuntimeError, OSError) as exc:  # DistStoreError is a RuntimeError
        raise Unavailable(f"nccl rendezvous {host}:{port} unreachable: {exc}") from None
    store.set_timeout(TIMEOUT)  # later waits (the trainer joining the group) may take longer
    return store


def _group(store: Any, key: str, rank: int) -> Any:
    import torch.distributed as dist

    require_nccl()
    options = dist.ProcessGroupNCCL.Options()
    options._timeout = TIMEOUT
    return dist.ProcessGroupNCCL(dist.PrefixStore(key, store), rank, 2, options)


class NcclSender(WeightSender):
    """Trainer rank 0: hosts the rendezvous store; keeps the newest version on its GPU."""

    name = "nccl"

    def __init__(self, host: str, port: int = 0, device: str = "cuda") -> None:
        import torch.distributed as dist

        self.store = dist.TCPStore(host, port, is_master=True, wait_for_workers=False)
        self.address = f"{host}:{self.store.port}"
        self.device = torch.device(device)
        self._groups: dict[str, Any] = {}
        self._version = -1
        self._tensors: dict[str, torch.Tensor] = {}
        self._lock = threading.Lock()

    def publish(self, version: int, tensors: Mapping[str, torch.Tensor]) -> WeightManifest:
        entries, total = layout(tensors)
        with self._lock:
            if version != self._version:
                self._tensors = {n: t.to(self.device).contiguous() for n, t in tensors.items()}
                self._version = version
        return WeightManifest(version, self.name, self.address, total, "", entries)

    async def send(
        self,
        rollout: WeightLoader,
        manifest: WeightManifest,
        tensors: Mapping[str, torch.Tensor],
        *,
        timeout_s: float,
    ) -> Delivery:
        key = f"yatt-weights/{rollout.target}"
        ours = dataclasses.replace(manifest, handle=f"{self.address}/{key}")
        call = rollout.load_weights_from_manifest(ours, timeout_s=timeout_s)
        bcast = asyncio.to_thread(self._broadcast, key, manifest.version)
        reply, _ = await asyncio.gather(call, bcast)
        return reply

    def _broadcast(self, key: str, version: int) -> None:
        with self._lock:
            if version != self._version:
                raise FailedPrecondition(f"version {version} is no longer on the GPU")
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _group(self.store, key, 0)
            try:
                for t in self._tensors.values():
                    group.broadcast([t], 0).wait()
            except BaseException:
                self._groups.pop(key, None)
                raise

    def close(self) -> None:
        self._groups.clear()
        self._tensors.clear()


class NcclReceiver(WeightReceiver):
    """Rollout GPU worker: joins the trainer's group named in the handle, receives every tensor."""

    name = "nccl"

    def __init__(self, device: str = "cuda") -> None:
        self.device = torch.device(device)
        self._groups: dict[str, Any] = {}
        self._held: dict[int, dict[str, torch.Tensor]] = {}

    def receive(self, manifest: WeightManifest) -> Mapping[str, torch.Tensor]:
        dtypes = check_entries(manifest)
        address, _, key = manifest.handle.partition("/")
        host, _, port = address.rpartition(":")
        if not key or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidArgument(f"nccl handle {manifest.handle!r} is not HOST:PORT/KEY")
        group = self._groups.get(manifest.handle)
        if group is None:
            require_nccl()
            store = connect_store(host, int(port))
            group = self._groups[manifest.handle] = _group(store, key, 1)
        out = {
            e.name: torch.empty(e.shape, dtype=dtypes[e.name], device=self.device)
            for e in manifest.entries
        }
        try:
            for t in out.values():
                group.broadcast([t], 0).wait()
            torch.cuda.synchronize(self.device)
        except BaseException:
            self._groups.pop(manifest.handle, None)
            raise
        self._held[manifest.version] = out
        return out

    def release(self, version: int) -> None:
        self._held.pop(version, None)
