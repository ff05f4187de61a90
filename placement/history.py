"""Move records in etcd (keys.placement_history): msgpack maps, read back in order.

Every applied move is written in the same transaction as the assignment it changes, so the
history is exactly the sequence of moves made, whichever leader made them.
"""

from __future__ import annotations

from typing import Any

import aetcd

from yatt import keys
from yatt.codec.meta import pack, unpack_map

from .state import Move


def encode_move(move: Move, leader: str = "") -> bytes:
    return pack(
        {
            "time": move.time,
            "slot": move.slot,
            "from": move.from_role,
            "to": move.to_role,
            "reason": move.reason,
            "queue_depths": dict(move.queue_depths),
            "leader": leader,
        }
    )


def decode_move(data: bytes) -> Move:
    raw: dict[str, Any] = unpack_map(data, what="placement history entry")
    return Move(
        slot=int(raw.get("slot", -1)),
        from_role=str(raw.get("from", "")),
        to_role=str(raw.get("to", "")),
        reason=str(raw.get("reason", "")),
        time=float(raw.get("time", 0.0)),
        queue_depths={str(k): float(v) for k, v in (raw.get("queue_depths") or {}).items()},
    )


def seq_of(key: bytes) -> int:
    return int(key.rsplit(b"/", 1)[1])


async def read_history(client: aetcd.Client, job: str, last: int | None = None) -> list[Move]:
    """Moves in the order they were made (the `last` newest if given)."""
    listing = await client.get_prefix(keys.placement_history_prefix(job).encode())
    entries = sorted(listing, key=lambda kv: seq_of(kv.key))
    if last is not None:
        entries = entries[-last:] if last > 0 else []
    return [decode_move(kv.value) for kv in entries]


async def next_seq(client: aetcd.Client, job: str) -> int:
    listing = await client.get_prefix(keys.placement_history_prefix(job).encode(), keys_only=True)
    return max((seq_of(kv.key) for kv in listing), default=-1) + 1
