"""Tensor and metadata codecs: bit-exact round trips and clear errors on malformed input."""

from __future__ import annotations

import pytest
import torch

from yatt.codec.meta import pack, unpack, unpack_map
from yatt.codec.tensor import (
    DTYPES,
    TensorAssembler,
    iter_tensor_chunks,
    tensor_from_proto,
    tensor_to_proto,
)
from yatt.errors import InvalidArgument
from yatt.protos import common_pb2

pytestmark = pytest.mark.unit


def _sample(dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
    if dtype == torch.bool:
        return torch.rand(shape) > 0.5
    if dtype.is_floating_point:
        return torch.randn(shape).to(dtype)
    return torch.randint(-100 if dtype != torch.uint8 else 0, 100, shape).to(dtype)


@pytest.mark.parametrize("dtype", list(DTYPES.values()), ids=list(DTYPES))
@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 5), (2, 0, 4)])
def test_whole_tensor_round_trip_is_bit_exact(dtype: torch.dtype, shape: tuple[int, ...]) -> None:
    tensor = _sample(dtype, shape)
    back = tensor_from_proto(tensor_to_proto(tensor))
    assert back.dtype == dtype and back.shape == tensor.shape
    assert torch.equal(back.view(-1).view(torch.uint8), tensor.reshape(-1).view(torch.uint8))


def test_non_contiguous_tensor_round_trips() -> None:
    tensor = torch.arange(12.0).reshape(3, 4).t()
    assert torch.equal(tensor_from_proto(tensor_to_proto(tensor)), tensor)


@pytest.mark.parametrize("chunk", [1, 5, 64, 1 << 20])
def test_chunked_stream_reassembles_bit_exact(chunk: int) -> None:
    tensors = {"a": torch.randn(17, 3), "b": torch.randint(0, 9, (5,)), "c": torch.empty(0)}
    assembler = TensorAssembler()
    out = {}
    for name, tensor in tensors.items():
        for piece in iter_tensor_chunks(name, tensor, chunk):
            assert len(piece.data) <= chunk
            done = assembler.feed(piece)
            if done:
                out[done[0]] = done[1]
    assert assembler.incomplete() == []
    assert out.keys() == tensors.keys()
    for name, tensor in tensors.items():
        assert torch.equal(out[name], tensor)


def test_byte_length_mismatch_is_invalid_argument() -> None:
    msg = tensor_to_proto(torch.ones(3))
    msg.shape[:] = [4]
    with pytest.raises(
        InvalidArgument, match=r"12 bytes do not match dtype float32 and shape \[4\]"
    ):
        tensor_from_proto(msg)


def test_unknown_dtype_and_negative_shape_are_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="unknown dtype 'float128'"):
        tensor_from_proto(common_pb2.Tensor(dtype="float128", shape=[1], data=b"\0" * 16))
    with pytest.raises(InvalidArgument, match="negative dimension"):
        tensor_from_proto(common_pb2.Tensor(dtype="float32", shape=[-1], data=b""))
    with pytest.raises(InvalidArgument, match="too large"):
        tensor_from_proto(common_pb2.Tensor(dtype="float32", shape=[1 << 30, 1 << 30], data=b""))


# Zero elements, so the byte-length check alone passes, but strides overflow int64 in torch.
HOSTILE_SHAPES = [
    ("float16", [0, 4, 5, 2**62]),
    ("int16", [0] * 1000 + [2**62, 0]),
    ("float32", [2**62, 0]),
    ("float32", [1] * 33),
]


@pytest.mark.parametrize(("dtype", "shape"), HOSTILE_SHAPES)
def test_zero_element_shapes_with_huge_dimensions_are_invalid_argument(
    dtype: str, shape: list[int]
) -> None:
    with pytest.raises(InvalidArgument, match="too large|dimensions"):
        tensor_from_proto(common_pb2.Tensor(dtype=dtype, shape=shape, data=b""))
    chunk = common_pb2.TensorChunk(name="w", dtype=dtype, shape=shape, total_bytes=0)
    with pytest.raises(InvalidArgument, match="too large|dimensions"):
        TensorAssembler().feed(chunk)


def test_shape_merged_from_duplicated_fields_is_checked_as_a_whole() -> None:
    """Protobuf merges a repeated field sent twice: [4, 4, 0] then [huge] is [4, 4, 0, huge]."""
    first = common_pb2.Tensor(dtype="float32", shape=[4, 4, 0]).SerializeToString()
    second = common_pb2.Tensor(shape=[4884986326622105546]).SerializeToString()
    merged = common_pb2.Tensor.FromString(first + second)
    assert list(merged.shape) == [4, 4, 0, 4884986326622105546]
    with pytest.raises(InvalidArgument, match="too large"):
        tensor_from_proto(merged)


def test_error_message_of_a_long_shape_is_short() -> None:
    with pytest.raises(InvalidArgument) as err:
        tensor_from_proto(common_pb2.Tensor(dtype="int8", shape=[0] * 1000 + [2**62]))
    assert len(str(err.value)) < 200


def test_assembler_rejects_inconsistent_chunks() -> None:
    chunks = list(iter_tensor_chunks("w", torch.arange(8.0), 8))
    assembler = TensorAssembler()
    assembler.feed(chunks[0])
    with pytest.raises(InvalidArgument, match="offset"):
        assembler.feed(chunks[2])  # skipped one
    bad_total = common_pb2.TensorChunk(
        name="x", dtype="float32", shape=[2], total_bytes=4, data=b""
    )
    with pytest.raises(InvalidArgument, match="total_bytes 4"):
        TensorAssembler().feed(bad_total)
    twice = TensorAssembler()
    for piece in iter_tensor_chunks("w", torch.ones(1)):
        twice.feed(piece)
    with pytest.raises(InvalidArgument, match="sent twice"):
        twice.feed(next(iter_tensor_chunks("w", torch.ones(1))))
    over = TensorAssembler()
    first = chunks[0]
    grown = common_pb2.TensorChunk()
    grown.CopyFrom(first)
    grown.data = first.data * 5
    with pytest.raises(InvalidArgument, match="more than 32 bytes"):
        over.feed(grown)


def test_assembler_bounds_total_stream_size() -> None:
    assembler = TensorAssembler(max_total_bytes=100)
    with pytest.raises(InvalidArgument, match="exceeds 100 bytes"):
        assembler.feed(next(iter_tensor_chunks("big", torch.zeros(64))))


def test_metadata_round_trip_and_errors() -> None:
    value = {"answer": "42", "n": 3, "raw": b"\x00\x01", "nested": {"x": [1.5, None]}}
    assert unpack(pack(value)) == value
    assert unpack(b"") is None and unpack_map(b"") == {}
    with pytest.raises(InvalidArgument, match="details is not valid msgpack"):
        unpack(b"\xc1", what="details")
    with pytest.raises(InvalidArgument, match="must be a msgpack map"):
        unpack_map(pack([1, 2]))


def test_metadata_bounds_items_and_bytes_before_building_objects() -> None:
    """Before: msgpack's limits scaled with the input, so 1 MB of empty arrays became 1M lists."""
    many = b"\xdd" + (10**6).to_bytes(4, "big") + b"\x90" * 10**6  # array32 of 1M empty arrays
    with pytest.raises(InvalidArgument, match="max_array_len"):
        unpack(many, what="details")
    with pytest.raises(InvalidArgument, match="at most"):
        unpack(b"\x90" * (17 * 2**20))
    assert unpack(pack(list(range(1000)))) == list(range(1000))


def test_assembler_refuses_empty_chunks_of_a_tensor_that_needs_bytes() -> None:
    """A stream of empty pieces would otherwise hold the call (and its slot) for ever."""
    assembler = TensorAssembler()
    empty = common_pb2.TensorChunk(name="w", dtype="float32", shape=[2], total_bytes=8)
    with pytest.raises(InvalidArgument, match="empty chunk"):
        assembler.feed(empty)
    [piece] = iter_tensor_chunks("z", torch.zeros(0))  # a zero-element tensor is one empty piece
    assert TensorAssembler().feed(piece) is not None
