"""The value of a slot assignment (keys.assign): which unit (role, or roles joined by "+") a
worker slot should run. Written by placement, followed by workers, shown by `yatt train`.
"""

from __future__ import annotations

import time
from typing import Any

from yatt.codec.meta import pack, unpack


def encode_assignment(unit: str, by: str = "") -> bytes:
    return pack({"role": unit, "time": time.time(), "by": by})


def decode_assignment(data: bytes) -> str | None:
    """The unit in an assignment value (a msgpack map with `role`, or a bare string)."""
    raw: Any = unpack(data, what="slot assignment")
    if isinstance(raw, dict):
        raw = raw.get("role")
    return raw if isinstance(raw, str) and raw else None


def slot_of(key: bytes) -> int | None:
    """The slot number at the end of an assignment key (None for anything else)."""
    tail = key.rsplit(b"/", 1)[1]
    return int(tail) if tail.isdigit() else None
