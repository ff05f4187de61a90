"""Slot assignments in etcd (keys.assign): read, initialise once, and move under leadership.

A move is one transaction that checks the writer still leads and the slot still holds the
unit it is moved from, so a deposed leader or a stale plan can never overwrite a newer map.
"""

from __future__ import annotations

import aetcd

from yatt import keys
from yatt.coordination.assignments import decode_assignment, encode_assignment, slot_of

from .history import encode_move
from .state import Move


async def read_assignments(client: aetcd.Client, job: str) -> dict[int, str]:
    listing = await client.get_prefix(keys.assign_prefix(job).encode())
    out = {}
    for kv in listing:
        slot, unit = slot_of(kv.key), decode_assignment(kv.value)
        if slot is not None and unit is not None:
            out[slot] = unit
    return out


async def init_assignments(
    client: aetcd.Client, job: str, initial: dict[int, str], by: str = "init"
) -> bool:
    """Writes the whole starting map only if no slot of the job is assigned yet."""
    if await client.get_prefix(keys.assign_prefix(job).encode(), keys_only=True):
        return False
    tx = client.transactions
    slot_keys = {slot: keys.assign(job, slot).encode() for slot in initial}
    ok, _ = await client.transaction(
        compare=[tx.create(key) == 0 for key in slot_keys.values()],
        success=[tx.put(slot_keys[s], encode_assignment(u, by)) for s, u in initial.items()],
        failure=[],
    )
    return bool(ok)


async def fill_slots(
    client: aetcd.Client, job: str, fixes: dict[int, str], leader_key: str, leader: str
) -> int:
    """Assigns slots that have no (usable) assignment, while `leader` leads; returns how many."""
    tx = client.transactions
    done = 0
    for slot, unit in fixes.items():
        ok, _ = await client.transaction(
            compare=[tx.value(leader_key.encode()) == leader.encode()],
            success=[tx.put(keys.assign(job, slot).encode(), encode_assignment(unit, leader))],
            failure=[],
        )
        done += int(ok)
    return done


async def apply_move(
    client: aetcd.Client, job: str, move: Move, seq: int, leader_key: str, leader: str
) -> bool:
    """Reassigns move.slot and records the move as history entry `seq`, atomically.

    Fails (False) if `leader` no longer holds leader_key, the slot no longer holds
    move.from_role, or history entry `seq` exists already.
    """
    slot_key = keys.assign(job, move.slot).encode()
    current = await client.get(slot_key)
    if current is None or decode_assignment(current.value) != move.from_role:
        return False
    history_key = keys.placement_history(job, seq).encode()
    tx = client.transactions
    ok, _ = await client.transaction(
        compare=[
            tx.value(leader_key.encode()) == leader.encode(),
            tx.mod(slot_key) == current.mod_revision,
            tx.create(history_key) == 0,
        ],
        success=[
            tx.put(slot_key, encode_assignment(move.to_role, leader)),
            tx.put(history_key, encode_move(move, leader)),
        ],
        failure=[],
    )
    return bool(ok)
