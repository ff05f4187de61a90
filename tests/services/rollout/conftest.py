"""Fixtures of the rollout tests: a tiny local model directory and an hf engine on it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from yatt.models.init import init_model

    return init_model("tiny", tmp_path_factory.mktemp("tiny-model"), seed=0)


@pytest.fixture(scope="module")
def engine(tiny_model: Path):
    import torch

    from yatt.services.rollout.engines import build_engine

    torch.set_num_threads(1)
    return build_engine("hf", str(tiny_model), max_batch=64)


@pytest.fixture(scope="module")
def tokenizer(tiny_model: Path):
    from yatt.models.load import load_tokenizer

    return load_tokenizer(tiny_model)
