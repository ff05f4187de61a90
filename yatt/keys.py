"""Every etcd key yatt reads or writes, in one place (DESIGN.md, "etcd key space").

All keys of a job live under /yatt/jobs/<job>/; values are msgpack unless noted.
"""

from __future__ import annotations

ROOT = "/yatt/jobs"


def job_prefix(job: str) -> str:
    return f"{ROOT}/{job}/"


def config(job: str) -> str:
    """The job config, YAML as written."""
    return f"{ROOT}/{job}/config"


def shards_prefix(job: str, epoch: int | None = None) -> str:
    return f"{ROOT}/{job}/shards/" + ("" if epoch is None else f"{epoch}/")


def shard(job: str, epoch: int, idx: int) -> str:
    """pending | done (+ stats)."""
    return f"{ROOT}/{job}/shards/{epoch}/{idx}"


def claims_prefix(job: str) -> str:
    return f"{ROOT}/{job}/claims/"


def sampling_prefix(job: str) -> str:
    return f"{ROOT}/{job}/sampling/"


def sampling(job: str, epoch: int, idx: int) -> str:
    """A shard being sampled and not yet pushed (value: its samples), bound to the controller's
    lease: what the training window counts as ahead of a shard that wants to start."""
    return f"{ROOT}/{job}/sampling/{epoch}/{idx}"


def claim(job: str, epoch: int, idx: int) -> str:
    """Owner controller of a shard, bound to the owner's lease."""
    return f"{ROOT}/{job}/claims/{epoch}/{idx}"


def members_prefix(job: str, role: str | None = None) -> str:
    return f"{ROOT}/{job}/members/" + ("" if role is None else f"{role}/")


def member(job: str, role: str, instance: str) -> str:
    """Endpoint, slot and weight version of one service instance (lease-bound)."""
    return f"{ROOT}/{job}/members/{role}/{instance}"


def load_prefix(job: str, role: str | None = None) -> str:
    return f"{ROOT}/{job}/load/" + ("" if role is None else f"{role}/")


def load(job: str, role: str, instance: str) -> str:
    """Queue depth, in-flight, busy fraction, tokens/s of one instance (lease-bound)."""
    return f"{ROOT}/{job}/load/{role}/{instance}"


def assign_prefix(job: str) -> str:
    return f"{ROOT}/{job}/assign/"


def assign(job: str, slot: int) -> str:
    """Role wanted for a worker slot, written by placement."""
    return f"{ROOT}/{job}/assign/{slot}"


def placement_leader(job: str) -> str:
    return f"{ROOT}/{job}/placement/leader"


def placement_history_prefix(job: str) -> str:
    return f"{ROOT}/{job}/placement/history/"


def placement_history(job: str, seq: int) -> str:
    """One move; seq is zero-padded so keys sort in order."""
    return f"{ROOT}/{job}/placement/history/{seq:012d}"


def trainer(job: str) -> str:
    """Step, weight version, checkpoint path."""
    return f"{ROOT}/{job}/trainer"


def prefix_end(prefix: str) -> str:
    """The etcd range end that covers every key starting with prefix."""
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return raw.decode()


def status(job: str) -> str:
    """Job state: {"state": "running" | "done" | "failed", "reason": ...}."""
    return f"{ROOT}/{job}/status"
