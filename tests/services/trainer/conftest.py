"""Fixtures of the trainer tests: CPU DeepSpeed settings, a tiny model directory, experience.

DeepSpeed's CPU comm op is JIT-built once into .torch_extensions and reused by every test run.
"""

from __future__ import annotations

import os
from pathlib import Path

# Before anything imports deepspeed: CPU accelerator, cached JIT op, one thread per process.
REPO = Path(__file__).resolve().parents[3]
os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(REPO / ".torch_extensions"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
from trainer_helpers import tiny_model_dir  # noqa: E402


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory.mktemp("tiny-model"))
