"""Manifest layout, validation and proto round trip; the `auto` choice. No processes."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from yatt.contracts import RolloutMember
from yatt.errors import InvalidArgument
from yatt.transport.host import host_id
from yatt.transport.manifest import (
    ALIGN,
    WeightManifest,
    check_entries,
    layout,
    manifest_from_proto,
    manifest_to_proto,
)
from yatt.transport.registry import build_receiver, build_sender, choose
from yatt.transport.segments import NAME, owner_prefix, safe_job

pytestmark = pytest.mark.unit


def manifest() -> WeightManifest:
    tensors = {
        "a": torch.zeros(3, 5),
        "b": torch.zeros(7, dtype=torch.int64),
        "c": torch.zeros(1, dtype=torch.bfloat16),
    }
    entries, total = layout(tensors)
    return WeightManifest(4, "shm", "yatt-j-1-v4", total, "xxh3_64:00", entries)


def test_layout_aligns_every_tensor_and_covers_the_bytes() -> None:
    m = manifest()
    assert [e.offset for e in m.entries] == [0, 64, 128]
    assert all(e.offset % ALIGN == 0 for e in m.entries)
    assert [e.nbytes for e in m.entries] == [60, 56, 2] and m.total_bytes == 192
    assert check_entries(m) == {"a": torch.float32, "b": torch.int64, "c": torch.bfloat16}


def test_proto_round_trip() -> None:
    m = manifest()
    assert manifest_from_proto(manifest_to_proto(m)) == m


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda e: dataclasses.replace(e, nbytes=e.nbytes + 4), "do not match"),
        (lambda e: dataclasses.replace(e, dtype="float32"), "do not match"),
        (lambda e: dataclasses.replace(e, dtype="complex7"), "unknown dtype"),
        (lambda e: dataclasses.replace(e, offset=e.offset + 1), "aligned"),
        (lambda e: dataclasses.replace(e, offset=1 << 20), "outside"),
        (lambda e: dataclasses.replace(e, shape=(-1, 3)), "negative"),
    ],
)
def test_inconsistent_entries_are_refused(change, match: str) -> None:  # noqa: ANN001
    m = manifest()
    bad = dataclasses.replace(m, entries=(m.entries[0], change(m.entries[1]), m.entries[2]))
    with pytest.raises(InvalidArgument, match=match):
        check_entries(bad)


def test_empty_and_duplicate_entries_are_refused() -> None:
    m = manifest()
    with pytest.raises(InvalidArgument, match="no tensors"):
        check_entries(dataclasses.replace(m, entries=()))
    dup = dataclasses.replace(m.entries[1], name="a")
    with pytest.raises(InvalidArgument, match="twice"):
        check_entries(dataclasses.replace(m, entries=(m.entries[0], dup)))


def test_auto_picks_shm_only_on_the_same_host() -> None:
    here = host_id()
    assert here == host_id() and len(here) == 24
    local = RolloutMember(host_id=here, weight_transports=["grpc", "shm"])
    assert choose("auto", local) == "shm"
    assert choose("auto", dataclasses.replace(local, host_id="elsewhere")) == "grpc"
    assert choose("auto", RolloutMember(host_id=here, weight_transports=["grpc"])) == "grpc"
    assert choose("auto", RolloutMember()) == "grpc"  # an older rollout that reports nothing
    assert choose("grpc", local) == "grpc" and choose("nccl", local) == "nccl"


def test_registry_names() -> None:
    assert build_sender("grpc").name == "grpc"
    assert build_receiver("shm").name == "shm"
    with pytest.raises(InvalidArgument, match="unknown weight transport"):
        build_sender("carrier-pigeon")
    with pytest.raises(InvalidArgument, match="does not load from a manifest"):
        build_receiver("grpc")


def test_segment_names_keep_the_owner_pid_parseable() -> None:
    assert safe_job("a-b/c") == "a_b_c"
    m = NAME.match(owner_prefix("a-b/c", 123) + "v7")
    assert m and m["pid"] == "123" and m["tag"] == "v7"
    assert not NAME.match("yatt-x-1-v2/../../etc")
