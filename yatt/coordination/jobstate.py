"""A job's state in etcd (keys.status): running, done or failed, with a reason.

Written by `yatt train` on submit and by controllers when the job ends; read by both.
"""

from __future__ import annotations

from typing import Any

import aetcd

from yatt import keys
from yatt.codec.meta import pack, unpack_map


async def job_state(client: aetcd.Client, job: str) -> dict[str, Any]:
    kv = await client.get(keys.status(job).encode())
    return {"state": "running"} if kv is None else unpack_map(kv.value, what="job status")


async def set_job_state(client: aetcd.Client, job: str, state: str, reason: str = "") -> None:
    await client.put(keys.status(job).encode(), pack({"state": state, "reason": reason}))
