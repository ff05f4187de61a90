"""Fixtures of the fault tests: a tiny model on disk, a prompt file, a LocalCluster per test."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from yatt.cluster.local import LocalCluster


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from yatt.models.init import init_model

    return init_model("tiny", tmp_path_factory.mktemp("models") / "tiny", seed=0)


@pytest.fixture
def arith_file(tmp_path: Path):  # type: ignore[no-untyped-def]
    """write(count) -> a JSONL of `count` single-digit additions with their answers."""

    def write(count: int, seed: int = 0) -> Path:
        rng = random.Random(seed)
        rows = []
        for _ in range(count):
            a, b = rng.randrange(10), rng.randrange(10)
            rows.append({"prompt": f"{a}+{b}=", "answer": str(a + b)})
        path = tmp_path / f"arith-{count}-{seed}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path

    return write


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """etcd plus whatever the test starts; every process is stopped by PID afterwards."""
    with LocalCluster(tmp_path / "run", job="faults", lease_ttl_s=2) as local:
        local.start_etcd()
        yield local
