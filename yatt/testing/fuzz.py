# mypy: disable-error-code="union-attr,arg-type"
# (protobuf descriptor reflection: its stubs type every descriptor as an optional union)
"""Hypothesis strategies for fuzzing yatt's RPCs: random protobuf messages, garbage bytes decoded
as messages, malformed tensors/chunks/msgpack, and broken client streams.

Used by tests/fuzz (one real process per service); plugin authors can fuzz their own servers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from hypothesis import strategies as st

from yatt.protos import common_pb2

# A handler's statuses: anything else (UNKNOWN, INTERNAL) means an unhandled exception.
PROPER_CODES = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT32 = (0, 2**32 - 1)
UINT64 = (0, 2**64 - 1)

WIRE_DTYPES = [
    "float32",
    "float16",
    "bfloat16",
    "float64",
    "int64",
    "int32",
    "int8",
    "uint8",
    "bool",
]
BAD_DTYPES = ["", "float", "torch.float32", "complex64", "FLOAT32", "int4", "\x00", "🙂"]


def edge_ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Integers in [lo, hi] with the boundaries and small values over-represented."""
    edges = [v for v in (lo, hi, -1, 0, 1, 2, hi // 2, lo // 2) if lo <= v <= hi]
    return st.one_of(st.sampled_from(edges), st.integers(-8, 64).filter(lambda v: lo <= v <= hi),
                     st.integers(lo, hi))  # fmt: skip


def edge_floats(width: int = 64) -> st.SearchStrategy[float]:
    specials = [0.0, -0.0, 1.0, -1.0, 1e-45, 1e-30, 1e30, 3.4e38, math.inf, -math.inf, math.nan]
    return st.one_of(st.sampled_from(specials), st.floats(width=width, allow_nan=True))


def texts(max_size: int = 64) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["", " ", "\x00", "../../etc/passwd", "a" * 1000, "é🙂\u202e"]),
        st.text(max_size=max_size),
    )


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    t = field.type
    if t in (
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SFIXED32,
    ):
        return edge_ints(*INT32)
    if t in (
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_SFIXED64,
    ):
        return edge_ints(*INT64)
    if t in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return edge_ints(*UINT32)
    if t in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return edge_ints(*UINT64)
    if t == FieldDescriptor.TYPE_FLOAT:
        return edge_floats(32)
    if t == FieldDescriptor.TYPE_DOUBLE:
        return edge_floats(64)
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_STRING:
        return texts()
    if t == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=256)
    if t == FieldDescriptor.TYPE_ENUM:
        return st.sampled_from([v.number for v in field.enum_type.values])
    raise TypeError(f"unsupported field type {t} of {field.full_name}")


def messages(
    cls: type[Message], depth: int = 3, max_repeated: int = 8
) -> st.SearchStrategy[Message]:
    """Random instances of cls: every field randomly set (or not), nested messages to depth."""

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        msg = cls()
        for field in cls.DESCRIPTOR.fields:
            if not draw(st.booleans()):
                continue
            is_msg = field.type == FieldDescriptor.TYPE_MESSAGE
            if is_msg and depth <= 0:
                continue
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                key_f, val_f = (
                    field.message_type.fields_by_name["key"],
                    field.message_type.fields_by_name["value"],
                )
                if val_f.type == FieldDescriptor.TYPE_MESSAGE:
                    continue
                entries = draw(st.dictionaries(_scalar(key_f), _scalar(val_f), max_size=4))
                getattr(msg, field.name).update(entries)
            elif field.is_repeated:
                if is_msg:
                    sub = messages(field.message_type._concrete_class, depth - 1, max_repeated)
                    items = draw(st.lists(sub, max_size=max_repeated))
                    getattr(msg, field.name).extend(items)
                else:
                    getattr(msg, field.name).extend(
                        draw(st.lists(_scalar(field), max_size=max_repeated))
                    )
            elif is_msg:
                sub = draw(messages(field.message_type._concrete_class, depth - 1, max_repeated))
                getattr(msg, field.name).CopyFrom(sub)
            else:
                setattr(msg, field.name, draw(_scalar(field)))
        return msg

    return build()


def parse_or_none(cls: type[Message], data: bytes) -> Message | None:
    """cls parsed from data, or None when protobuf refuses it client-side (the input is skipped)."""
    msg = cls()
    try:
        msg.MergeFromString(data)
    except (DecodeError, RuntimeError, ValueError):
        return None
    return msg


def garbage(cls: type[Message]) -> st.SearchStrategy[Message | None]:
    """Random bytes, or a valid message's bytes mutated, decoded as cls (None = did not parse)."""
    raw = st.binary(max_size=512)

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(messages(cls, depth=2)).SerializeToString())
        for _ in range(draw(st.integers(1, 4))):
            pos = draw(st.integers(0, len(data)))
            op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
            if op == "flip" and pos < len(data):
                data[pos] ^= draw(st.integers(1, 255))
            elif op == "insert":
                data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
            elif op == "delete":
                del data[pos : pos + draw(st.integers(1, 8))]
            else:
                del data[pos:]
        return bytes(data)

    @st.composite
    def merged(draw: st.DrawFn) -> bytes:
        # Protobuf merges a message sent in parts: repeated fields concatenate, singular ones
        # are overwritten, and fields the schema does not know are kept as unknown fields.
        parts = [draw(messages(cls, depth=2)).SerializeToString() for _ in range(2)]
        unknown = draw(st.sampled_from([b"", b"\xf8\x7f\x01", b"\xfa\x7f\x03abc"]))
        return parts[0] + unknown + parts[1]

    return st.one_of(raw, mutated(), merged()).map(lambda b: parse_or_none(cls, b))


# -- tensors -------------------------------------------------------------------------------------


def _itemsize(dtype: str) -> int:
    return {"float64": 8, "int64": 8, "float32": 4, "int32": 4, "float16": 2, "bfloat16": 2}.get(
        dtype, 1
    )


shapes = st.one_of(
    st.lists(st.integers(0, 6), max_size=4),
    st.lists(edge_ints(*INT64), max_size=4),  # negative, overflowing and huge dimensions
    st.sampled_from([[0, 2**62], [2**40, 2**40], [-1], [2**31, 2], [1] * 40]),
    # Zero elements with a huge dimension: the byte count is 0, the strides overflow int64.
    st.sampled_from([[0, 4, 5, 2**62], [4, 4, 0, 4884986326622105546], [0] * 1000 + [2**62]]),
)


@st.composite
def wire_tensors(draw: st.DrawFn, max_elements: int = 64) -> common_pb2.Tensor:
    """Tensors that are right, or wrong in one way: dtype name, shape, or byte length."""
    dtype = draw(st.one_of(st.sampled_from(WIRE_DTYPES), st.sampled_from(BAD_DTYPES), texts(12)))
    if draw(st.booleans()):  # consistent shape and data (when the dtype is known)
        shape = draw(st.lists(st.integers(0, 4), max_size=3))
        numel = math.prod(shape)
        if numel > max_elements:
            shape = [max_elements]
            numel = max_elements
        data = draw(st.binary(min_size=numel * _itemsize(dtype), max_size=numel * _itemsize(dtype)))
    else:
        shape = draw(shapes)
        data = draw(st.binary(max_size=256))
    return common_pb2.Tensor(dtype=dtype, shape=shape, data=data)


def msgpack_blobs() -> st.SearchStrategy[bytes]:
    """Valid msgpack maps, valid non-map msgpack, and garbage (truncated, bad types, deep nests)."""
    import msgpack

    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**64 - 1),
        st.floats(),
        st.text(max_size=16),
        st.binary(max_size=16),
    )
    values = st.recursive(
        leaves,
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=12,
    )
    maps = st.dictionaries(
        st.one_of(st.text(max_size=8), st.integers(-(2**63), 2**63 - 1)), values, max_size=6
    )
    packed = st.one_of(maps, values).map(lambda v: msgpack.packb(v, use_bin_type=True))
    special = st.sampled_from([
        b"\xc1",  # never-used byte
        b"\x91" * 10000 + b"\xc0",  # 10,000-deep nested arrays
        b"\xdf\xff\xff\xff\xff",  # map claiming 4 billion entries
        b"\xdb\xff\xff\xff\xff",  # str claiming 4 GiB
        b"\xc7\x01\x05x",  # ext type
        b"\x81\x80\x01",  # map key that is a map
    ])  # fmt: skip
    truncated = packed.flatmap(lambda b: st.integers(0, max(0, len(b) - 1)).map(lambda n: b[:n]))
    return st.one_of(packed, special, truncated, st.binary(max_size=64))


# -- streams -------------------------------------------------------------------------------------


def chunk_pieces(
    name: str, dtype: str, shape: Sequence[int], data: bytes, size: int
) -> list[common_pb2.TensorChunk]:
    """A correct chunking of one tensor's bytes (the base that stream mutations break)."""
    size = max(1, size)
    pieces = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    out, offset = [], 0
    for piece in pieces:
        out.append(common_pb2.TensorChunk(name=name, dtype=dtype, shape=list(shape), offset=offset,
                                          total_bytes=len(data), data=piece))  # fmt: skip
        offset += len(piece)
    return out


STREAM_BREAKS = ["none", "shuffle", "truncate", "duplicate", "drop_one", "corrupt_one", "empty"]


@st.composite
def broken(
    draw: st.DrawFn, items: list[Any], corrupt: Callable[[Any], st.SearchStrategy[Any]]
) -> list[Any]:
    """items with one stream fault: reordered, cut short, a chunk repeated/dropped/corrupted."""
    how = draw(st.sampled_from(STREAM_BREAKS))
    items = list(items)
    if not items or how == "none":
        return items
    if how == "shuffle":
        return draw(st.permutations(items))
    if how == "empty":
        return []
    i = draw(st.integers(0, len(items) - 1))
    if how == "truncate":
        return items[:i]
    if how == "duplicate":
        return items[: i + 1] + [items[i]] + items[i + 1 :]
    if how == "drop_one":
        return items[:i] + items[i + 1 :]
    return items[:i] + [draw(corrupt(items[i]))] + items[i + 1 :]


@st.composite
def corrupt_chunk(draw: st.DrawFn, chunk: common_pb2.TensorChunk) -> common_pb2.TensorChunk:
    """One field of a TensorChunk made wrong."""
    out = common_pb2.TensorChunk()
    out.CopyFrom(chunk)
    field = draw(st.sampled_from(["name", "dtype", "shape", "offset", "total_bytes", "data"]))
    if field == "name":
        out.name = draw(texts(16))
    elif field == "dtype":
        out.dtype = draw(st.sampled_from(WIRE_DTYPES + BAD_DTYPES))
    elif field == "shape":
        del out.shape[:]
        out.shape.extend(draw(shapes))
    elif field == "offset":
        out.offset = draw(edge_ints(*INT64))
    elif field == "total_bytes":
        out.total_bytes = draw(st.one_of(edge_ints(*INT64), st.integers(0, 1 << 20)))
    else:
        out.data = draw(st.binary(max_size=2 * len(chunk.data) + 8))
    return out


def iterate(items: Sequence[Any]) -> Iterator[Any]:
    """A request iterator for a client stream (grpc consumes it lazily)."""
    yield from items


@st.composite
def one_fault(
    draw: st.DrawFn,
    cls: type[Message],
    valid: dict[str, st.SearchStrategy[Any]],
    edge: dict[str, st.SearchStrategy[Any]],
) -> Message:
    """cls with every field valid, except (two times in three) one field drawn from edge: requests
    then get past the first check and reach deep validation and the real work."""
    bad = draw(st.sampled_from([None, *edge, *edge]))
    return cls(**{k: draw(edge[k] if k == bad else v) for k, v in valid.items()})
