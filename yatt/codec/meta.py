"""Free-form metadata (reward details, payload descriptors, stats) as msgpack bytes."""

from __future__ import annotations

from typing import Any

import msgpack

from yatt.errors import InvalidArgument


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def unpack(data: bytes, *, what: str = "metadata", default: Any = None) -> Any:
    """Decodes msgpack; empty bytes give default. Garbage raises InvalidArgument naming `what`."""
    if not data:
        return default
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:  # TypeError: a map as a key
        raise InvalidArgument(f"{what} is not valid msgpack: {exc}") from None


def unpack_map(data: bytes, *, what: str = "metadata") -> dict[str, Any]:
    """Decodes msgpack that must be a map (empty bytes give {})."""
    value = unpack(data, what=what, default={})
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} must be a msgpack map, got {type(value).__name__}")
    return value
