"""Fixtures of the weight-transport tests: a tiny model, rollout processes, /dev/shm accounting.

Every test here checks that the yatt segments of its jobs (all named xport*) in /dev/shm after
it are those before it; other processes on the machine may own segments of their own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
from transport_helpers import JOB  # noqa: E402

from yatt.transport.segments import SHM_DIR  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(REPO / ".torch_extensions"))


def yatt_segments() -> set[str]:
    return {p.name for p in SHM_DIR.iterdir() if p.name.startswith(f"yatt-{JOB}")}


@pytest.fixture(autouse=True)
def no_leaked_segments() -> Iterator[None]:
    before = yatt_segments()
    yield
    leaked = yatt_segments() - before
    assert not leaked, f"segments left in {SHM_DIR}: {sorted(leaked)}"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from yatt.models.init import init_model

    return init_model("tiny", tmp_path_factory.mktemp("tiny-model"), seed=0)


@pytest.fixture(scope="session")
def engine(tiny_model: Path):  # noqa: ANN201 - an HfEngine
    """An in-process hf engine: the reference the rollout processes' outputs are compared to."""
    import torch

    from yatt.services.rollout.engines import build_engine

    torch.set_num_threads(1)
    return build_engine("hf", str(tiny_model), max_batch=64)
