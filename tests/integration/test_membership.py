"""Membership against a real etcd: register, update, stop, and re-register by itself after
its lease is revoked, etcd restarts, the lease expires during an outage, or etcd loses its data.
"""

from __future__ import annotations

import asyncio
import time

import aetcd
import pytest

from yatt.coordination import Membership, SessionLease
from yatt.testing.etcd import EtcdServer, wait_for_key

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

TTL = 2
KEY = "/yatt/jobs/job/members/rollout/r0"


async def lease_of(client: aetcd.Client, key: str) -> int:
    kv = await client.get(key.encode())
    assert kv is not None, f"{key} missing"
    return kv.lease


async def still_registered_after(client: aetcd.Client, member: Membership, wait: float) -> None:
    """The key outlives several TTLs (keepalive runs) and stays on the member's current lease."""
    await asyncio.sleep(wait)
    assert member.registered.is_set()
    assert await lease_of(client, KEY) == member.lease_id


async def test_register_update_stop(etcd_client: aetcd.Client) -> None:
    member = Membership(etcd_client, KEY, b"v1", TTL)
    await member.start(timeout=10)
    assert member.registered.is_set()
    kv = await etcd_client.get(KEY.encode())
    assert (kv.value, kv.lease) == (b"v1", member.lease_id)
    await member.update(b"v2")
    assert (await etcd_client.get(KEY.encode())).value == b"v2"
    await still_registered_after(etcd_client, member, 2 * TTL)
    await member.stop()
    assert await etcd_client.get(KEY.encode()) is None
    assert not member.registered.is_set()


async def test_shared_lease_stop_deletes_only_own_key(etcd_client: aetcd.Client) -> None:
    lease = SessionLease(etcd_client, TTL)
    await lease.start()
    a = Membership(etcd_client, KEY, b"a", lease=lease)
    b = Membership(etcd_client, KEY + "-load", b"b", lease=lease)
    await a.start(timeout=10)
    await b.start(timeout=10)
    assert a.lease_id == b.lease_id == lease.lease_id
    await a.stop()
    assert await etcd_client.get(KEY.encode()) is None
    assert (await etcd_client.get((KEY + "-load").encode())).value == b"b"
    await lease.stop()
    assert await etcd_client.get((KEY + "-load").encode()) is None


async def test_revoked_lease_is_regranted_with_current_value(etcd_client: aetcd.Client) -> None:
    calls = []

    def value() -> bytes:
        calls.append(1)
        return f"v{len(calls)}".encode()

    member = Membership(etcd_client, KEY, value, TTL)
    await member.start(timeout=10)
    first = member.lease_id
    await etcd_client.revoke_lease(first)
    assert await etcd_client.get(KEY.encode()) is None
    # Noticed at the next refresh (ttl/3), then re-granted and written at once.
    took = await wait_for_key(etcd_client, KEY, timeout=TTL + 2)
    assert took < TTL + 1, took
    kv = await etcd_client.get(KEY.encode())
    assert kv.lease != first and kv.lease == member.lease_id
    assert kv.value == f"v{len(calls)}".encode() and len(calls) >= 2
    await still_registered_after(etcd_client, member, 1.5 * TTL)
    await member.stop()


async def test_survives_short_etcd_restart(etcd: EtcdServer, etcd_client: aetcd.Client) -> None:
    """etcd down less than the TTL: the same lease is kept alive once etcd is back."""
    member = Membership(etcd_client, KEY, b"v", TTL)
    await member.start(timeout=10)
    first = member.lease_id
    await asyncio.to_thread(etcd.restart, False, 0.5)
    await wait_for_key(etcd_client, KEY, timeout=5)
    # etcd re-arms leases on restart; the key outliving 2 TTLs means keepalive resumed.
    await still_registered_after(etcd_client, member, 2 * TTL)
    assert member.lease_id == first
    await member.stop()


async def test_reregisters_when_lease_expired_during_outage(
    etcd: EtcdServer, etcd_client: aetcd.Client
) -> None:
    """etcd down longer than the TTL: registration is dropped, then regained on a new lease."""
    member = Membership(etcd_client, KEY, b"v", TTL)
    await member.start(timeout=10)
    first = member.lease_id
    etcd.stop()
    await asyncio.sleep(TTL + 1.0)
    assert not member.registered.is_set()  # told the truth while etcd was away
    back = time.monotonic()
    await asyncio.to_thread(etcd.restart, False, 0.0)
    await asyncio.wait_for(member.registered.wait(), timeout=5)
    print(f"re-registered {time.monotonic() - back:.2f}s after etcd restart began")
    assert member.lease_id != first
    assert await lease_of(etcd_client, KEY) == member.lease_id
    # The presumed-lost lease was revoked, not left to keep a second copy of our keys alive.
    assert (await etcd_client.get_lease_info(first)).TTL == -1
    await still_registered_after(etcd_client, member, 2 * TTL)
    await member.stop()


async def test_reregisters_after_etcd_lost_its_data(
    etcd: EtcdServer, etcd_client: aetcd.Client
) -> None:
    member = Membership(etcd_client, KEY, b"v", TTL)
    await member.start(timeout=10)
    await asyncio.to_thread(etcd.restart, True, 0.0)  # wiped: key and lease are gone
    took = await wait_for_key(etcd_client, KEY, timeout=TTL + 4)
    print(f"key back {took:.2f}s after an empty etcd came up")
    await still_registered_after(etcd_client, member, 2 * TTL)
    await member.stop()


async def test_start_waits_for_etcd_to_come_up(etcd: EtcdServer, etcd_client: aetcd.Client) -> None:
    etcd.stop()
    member = Membership(etcd_client, KEY, b"v", TTL)
    starting = asyncio.create_task(member.start(timeout=15))
    await asyncio.sleep(1.0)
    assert not starting.done()
    await asyncio.to_thread(etcd.restart, False, 0.0)
    await starting
    assert (await etcd_client.get(KEY.encode())).value == b"v"
    await member.stop()
