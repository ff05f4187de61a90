"""etcd for tests: the launcher `yatt up` uses (re-exported here), and waiting on a key."""

from __future__ import annotations

import asyncio
import time

import aetcd

from yatt.cluster.etcd import EtcdServer, EtcdTLS, find_binary, find_etcd

__all__ = ["EtcdServer", "EtcdTLS", "find_binary", "find_etcd", "wait_for_key"]


async def wait_for_key(
    client: aetcd.Client, key: str, present: bool = True, timeout: float = 10.0
) -> float:
    """Polls until key exists (or not); returns the seconds it took, TimeoutError otherwise."""
    start = time.monotonic()
    while True:
        try:
            if (await client.get(key.encode()) is not None) == present:
                return time.monotonic() - start
        except aetcd.ClientError:
            pass  # etcd restarting: keep polling until the deadline
        if time.monotonic() - start > timeout:
            state = "appear" if present else "disappear"
            raise TimeoutError(f"{key} did not {state} within {timeout}s")
        await asyncio.sleep(0.05)
