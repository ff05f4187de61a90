"""Fixtures for whole-cluster tests: a tiny model on disk, a prompt file, a LocalCluster."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from yatt.cluster.local import LocalCluster


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from yatt.models.init import init_model

    return init_model("tiny", tmp_path_factory.mktemp("models") / "tiny", seed=0)


def write_arith(path: Path, count: int, seed: int = 0) -> Path:
    import random

    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        a, b = rng.randrange(10), rng.randrange(10)
        rows.append({"prompt": f"{a}+{b}=", "answer": str(a + b)})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def arith_file(tmp_path: Path):  # type: ignore[no-untyped-def]
    """write(count) -> a JSONL of single-digit additions with their answers."""
    return lambda count, seed=0: write_arith(tmp_path / f"arith-{count}-{seed}.jsonl", count, seed)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with LocalCluster(tmp_path / "run", job="e2e", lease_ttl_s=2) as local:
        local.start_etcd()
        yield local
