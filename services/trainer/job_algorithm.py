"""Where a registered trainer gets its algorithm: the config of its job in etcd.

Why etcd and not a copy with every push: the job owns the algorithm and `yatt train` writes the
job's config before any shard exists, so one read serves the whole job (the config of a job
never changes); the wire and the journal stay as they are, and ranks 1..n-1 get the loss
settings with each step command, so only rank 0 reads etcd.
"""

from __future__ import annotations

from typing import Any

from yatt import keys
from yatt.config.algorithm import AlgorithmSpec, algorithm_of_job


async def read_job_algorithm(client: Any, job: str) -> AlgorithmSpec | None:
    """The algorithm of job's config in etcd; None while the job is not submitted yet."""
    kv = await client.get(keys.config(job).encode())
    return None if kv is None else algorithm_of_job(kv.value.decode())
