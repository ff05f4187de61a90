"""Free-form metadata (reward details, payload descriptors, stats) as msgpack bytes."""

from __future__ import annotations

from typing import Any

import msgpack

from yatt.errors import InvalidArgument

# Metadata is small (details, stats, member records). msgpack's own limits scale with the input,
# so 64 MiB of 0x90 bytes (empty arrays) would become 64M Python lists: bound what one value holds.
MAX_BYTES = 16 * 1024 * 1024
MAX_ITEMS = 1 << 17  # elements of one array, or pairs of one map


def pack(obj: Any) -> bytes:
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


def unpack(data: bytes, *, what: str = "metadata", default: Any = None) -> Any:
    """Decodes msgpack; empty bytes give default. Garbage raises InvalidArgument naming `what`."""
    if not data:
        return default
    if len(data) > MAX_BYTES:
        raise InvalidArgument(f"{what}: {len(data)} bytes of msgpack (at most {MAX_BYTES})")
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=False,
            max_array_len=MAX_ITEMS,
            max_map_len=MAX_ITEMS,
        )
    except (ValueError, TypeError, msgpack.UnpackException) as exc:  # TypeError: a map as a key
        raise InvalidArgument(f"{what} is not valid msgpack: {exc}") from None


def unpack_map(data: bytes, *, what: str = "metadata") -> dict[str, Any]:
    """Decodes msgpack that must be a map (empty bytes give {})."""
    value = unpack(data, what=what, default={})
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} must be a msgpack map, got {type(value).__name__}")
    return value
