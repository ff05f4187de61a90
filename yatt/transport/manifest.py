"""WeightManifest: what a version holds and where (names, dtypes, shapes, offsets, checksum),
sent instead of the bytes when the bytes travel another way; proto conversion both ways.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from yatt.codec.tensor import dtype_name, expected_bytes, parse_dtype
from yatt.errors import InvalidArgument
from yatt.protos import common_pb2

# Offsets are aligned so every tensor view of a segment is aligned for any dtype (and AVX-512).
ALIGN = 64


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int
    nbytes: int


@dataclass(frozen=True)
class WeightManifest:
    """One version: transport names who carries the bytes; handle is where (a segment path...)."""

    version: int
    transport: str
    handle: str
    total_bytes: int
    checksum: str
    entries: tuple[TensorEntry, ...]

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self.entries)


def layout(tensors: Mapping[str, torch.Tensor]) -> tuple[tuple[TensorEntry, ...], int]:
    """Entries at aligned offsets, in order, and the total byte length of the segment."""
    entries = []
    offset = 0
    for name, t in tensors.items():
        nbytes = t.numel() * t.element_size()
        entries.append(TensorEntry(name, dtype_name(t.dtype), tuple(t.shape), offset, nbytes))
        offset += (nbytes + ALIGN - 1) // ALIGN * ALIGN
    return tuple(entries), offset


def check_entries(m: WeightManifest) -> dict[str, torch.dtype]:
    """InvalidArgument if an entry's bytes disagree with its dtype/shape or leave the segment."""
    if not m.entries:
        raise InvalidArgument(f"manifest of version {m.version} lists no tensors")
    dtypes: dict[str, torch.dtype] = {}
    end = 0
    for e in m.entries:
        what = f"manifest tensor {e.name!r}"
        if e.name in dtypes:
            raise InvalidArgument(f"{what} listed twice")
        dtype = parse_dtype(e.dtype, what=what)
        want = expected_bytes(dtype, e.shape, what=what)
        if e.nbytes != want:
            raise InvalidArgument(
                f"{what}: {e.nbytes} bytes do not match {e.dtype}{list(e.shape)} ({want} expected)"
            )
        if e.offset < end or e.offset % ALIGN:
            raise InvalidArgument(f"{what}: offset {e.offset} overlaps or is not {ALIGN}-aligned")
        end = e.offset + e.nbytes
        if end > m.total_bytes:
            raise InvalidArgument(
                f"{what}: bytes [{e.offset}, {end}) lie outside the {m.total_bytes}-byte segment"
            )
        dtypes[e.name] = dtype
    return dtypes


def manifest_to_proto(m: WeightManifest) -> common_pb2.WeightManifest:
    return common_pb2.WeightManifest(
        version=m.version,
        transport=m.transport,
        handle=m.handle,
        total_bytes=m.total_bytes,
        checksum=m.checksum,
        entries=[
            common_pb2.WeightEntry(
                name=e.name, dtype=e.dtype, shape=list(e.shape), offset=e.offset, nbytes=e.nbytes
            )
            for e in m.entries
        ],
    )


def manifest_from_proto(msg: common_pb2.WeightManifest) -> WeightManifest:
    return WeightManifest(
        version=msg.version,
        transport=msg.transport,
        handle=msg.handle,
        total_bytes=msg.total_bytes,
        checksum=msg.checksum,
        entries=tuple(
            TensorEntry(e.name, e.dtype, tuple(e.shape), e.offset, e.nbytes) for e in msg.entries
        ),
    )
