"""The committed generated modules match the .proto files, and the RPC surface is deliberate."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from yatt.protos import generate

pytestmark = pytest.mark.unit

# A snapshot of the public RPC surface: changing it must be a deliberate edit here.
RPC_SURFACE = {
    "yatt.v1.RolloutService": ["Generate", "LoadWeights", "LoadWeightsFromManifest", "Info"],
    "yatt.v1.RewardService": ["Score"],
    "yatt.v1.ReferenceService": ["LogProbs"],
    "yatt.v1.TrainerService": ["PushExperience", "GetWeights", "Checkpoint", "Status"],
    "yatt.v1.PlacementService": ["Plan", "Status", "SetPolicy"],
    "yatt.v1.DiagnosticsService": ["Echo"],
}


def test_generated_modules_match_protos(tmp_path: Path) -> None:
    written = generate.generate(tmp_path)
    assert written, "protoc produced nothing"
    for fresh in written:
        committed = generate.PROTO_DIR / fresh.name
        assert committed.exists(), f"{fresh.name} is generated but not committed"
        assert filecmp.cmp(fresh, committed, shallow=False), (
            f"{fresh.name} is stale: run `python -m yatt.protos.generate`"
        )


def test_rpc_surface_snapshot() -> None:
    import importlib

    found = {}
    for proto in generate.proto_files():
        module = importlib.import_module(f"yatt.protos.{proto.stem}_pb2")
        for service in module.DESCRIPTOR.services_by_name.values():
            found[service.full_name] = [m.name for m in service.methods]
    assert found == RPC_SURFACE
