"""Tensors on the wire: raw C-order bytes with a dtype name and shape, whole or in chunks.

Decoding checks dtype, shape and byte length against each other, so a malformed
message is an InvalidArgument naming the problem, never a crash or a silent reshape.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from yatt.defaults import CHUNK_BYTES
from yatt.errors import InvalidArgument
from yatt.protos import common_pb2

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float64": torch.float64,
    "int64": torch.int64,
    "int32": torch.int32,
    "int16": torch.int16,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
# Larger than any real tensor dimension product we accept; guards int overflow and huge allocs.
MAX_ELEMENTS = 1 << 40
# Real tensors have a handful of dimensions; torch itself allows at most 64.
MAX_RANK = 32


def dtype_name(dtype: torch.dtype) -> str:
    try:
        return DTYPE_NAMES[dtype]
    except KeyError:
        raise InvalidArgument(f"dtype {dtype} is not supported on the wire") from None


def parse_dtype(name: str, *, what: str = "tensor") -> torch.dtype:
    try:
        return DTYPES[name]
    except KeyError:
        known = ", ".join(DTYPES)
        raise InvalidArgument(f"{what}: unknown dtype {name!r} (known: {known})") from None


def expected_bytes(dtype: torch.dtype, shape: list[int] | tuple[int, ...], *, what: str) -> int:
    """Byte size of a C-order tensor of this shape, checked in exact integer arithmetic.

    The product of the non-zero dimensions is bounded too: it is what torch's strides hold, so
    a zero-element shape such as [0, 2**62] would otherwise pass and then overflow in torch.
    """
    if len(shape) > MAX_RANK:
        raise InvalidArgument(f"{what}: {len(shape)} dimensions (at most {MAX_RANK})")
    numel, span = 1, 1
    for dim in shape:
        if dim < 0:
            raise InvalidArgument(f"{what}: negative dimension in shape {_brief(shape)}")
        numel *= dim
        span *= max(dim, 1)
        if span > MAX_ELEMENTS:
            raise InvalidArgument(f"{what}: shape {_brief(shape)} is too large")
    return numel * torch.empty((), dtype=dtype).element_size()


def _brief(shape: list[int] | tuple[int, ...], keep: int = 8) -> str:
    """A shape for an error message, cut short: a hostile one may have thousands of entries."""
    if len(shape) <= keep:
        return str(list(shape))
    return f"[{', '.join(map(str, shape[:keep]))}, ... ({len(shape)} dims)]"


def tensor_bytes(tensor: torch.Tensor) -> memoryview:
    """The tensor's raw bytes without a copy when it is already contiguous on CPU."""
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    if flat.numel() == 0:
        return memoryview(b"")
    return memoryview(flat.view(torch.uint8).numpy())  # type: ignore[arg-type]


def tensor_to_proto(tensor: torch.Tensor) -> common_pb2.Tensor:
    return common_pb2.Tensor(
        dtype=dtype_name(tensor.dtype), shape=list(tensor.shape), data=bytes(tensor_bytes(tensor))
    )


def _from_raw(data: bytes | bytearray, dtype: torch.dtype, shape: list[int]) -> torch.Tensor:
    if len(data) == 0:
        return torch.empty(shape, dtype=dtype)
    raw = torch.frombuffer(bytearray(data) if isinstance(data, bytes) else data, dtype=torch.uint8)
    return raw.view(dtype).reshape(shape)


def tensor_from_proto(msg: common_pb2.Tensor, *, what: str = "tensor") -> torch.Tensor:
    """Decodes a whole tensor; raises InvalidArgument on a dtype/shape/length mismatch."""
    dtype = parse_dtype(msg.dtype, what=what)
    shape = list(msg.shape)
    want = expected_bytes(dtype, shape, what=what)
    if len(msg.data) != want:
        raise InvalidArgument(
            f"{what}: {len(msg.data)} bytes do not match dtype {msg.dtype} and shape {shape} "
            f"({want} bytes expected)"
        )
    return _from_raw(msg.data, dtype, shape)


def iter_tensor_chunks(
    name: str, tensor: torch.Tensor, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[common_pb2.TensorChunk]:
    """Splits one tensor into TensorChunk messages of at most chunk_bytes of data each."""
    data = tensor_bytes(tensor)
    total = len(data)
    dtype = dtype_name(tensor.dtype)
    shape = list(tensor.shape)
    offset = 0
    while True:
        piece = data[offset : offset + chunk_bytes]
        yield common_pb2.TensorChunk(
            name=name, dtype=dtype, shape=shape, offset=offset, total_bytes=total, data=bytes(piece)
        )
        offset += len(piece)
        if offset >= total:
            return


@dataclass
class _Partial:
    dtype: torch.dtype
    dtype_text: str
    shape: list[int]
    buffer: bytearray
    want: int = 0
    filled: int = 0


class TensorAssembler:
    """Rebuilds named tensors from TensorChunk messages arriving in order.

    feed() returns (name, tensor) when a tensor is complete, else None. Chunks that
    contradict each other or their declared sizes raise InvalidArgument.
    """

    def __init__(self, max_total_bytes: int | None = None) -> None:
        self._partial: dict[str, _Partial] = {}
        self._done: set[str] = set()
        self._max_total = max_total_bytes
        self.total_bytes = 0

    def feed(self, chunk: common_pb2.TensorChunk) -> tuple[str, torch.Tensor] | None:
        name = chunk.name
        what = f"tensor {name!r}"
        if not name:
            raise InvalidArgument("tensor chunk without a name")
        if name in self._done:
            raise InvalidArgument(f"{what} sent twice")
        part = self._partial.get(name)
        if part is None:
            dtype = parse_dtype(chunk.dtype, what=what)
            want = expected_bytes(dtype, list(chunk.shape), what=what)
            if chunk.total_bytes != want:
                raise InvalidArgument(
                    f"{what}: total_bytes {chunk.total_bytes} does not match dtype {chunk.dtype} "
                    f"and shape {_brief(list(chunk.shape))} ({want} bytes expected)"
                )
            self.total_bytes += want
            if self._max_total is not None and self.total_bytes > self._max_total:
                raise InvalidArgument(f"stream exceeds {self._max_total} bytes at {what}")
            # Grown as data arrives: a header declaring a huge tensor costs nothing until sent.
            part = _Partial(dtype, chunk.dtype, list(chunk.shape), bytearray(), want)
            self._partial[name] = part
        elif chunk.dtype != part.dtype_text or list(chunk.shape) != part.shape:
            raise InvalidArgument(f"{what}: chunks disagree on dtype or shape")
        if not chunk.data and part.want > 0:
            # Progress is required: a stream of empty pieces would hold the call for ever.
            raise InvalidArgument(f"{what}: empty chunk ({part.want - part.filled} bytes missing)")
        if chunk.offset != part.filled:
            raise InvalidArgument(
                f"{what}: chunk at offset {chunk.offset}, expected {part.filled} (out of order?)"
            )
        end = part.filled + len(chunk.data)
        if end > part.want:
            raise InvalidArgument(f"{what}: chunks carry more than {part.want} bytes")
        part.buffer += chunk.data
        part.filled = end
        if part.filled < part.want:
            return None
        del self._partial[name]
        self._done.add(name)
        return name, _from_raw(part.buffer, part.dtype, part.shape)

    def incomplete(self) -> list[str]:
        """Names of tensors whose chunks stopped before the end."""
        return sorted(self._partial)
