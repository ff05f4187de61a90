"""Fixtures of the vllm engine tests: the .venv-vllm interpreter and two tiny local models.

vLLM runs only in its own virtual environment (scripts/setup_vllm_env.sh), so every test here
drives it as a subprocess of that interpreter; the models are built here, in the main venv.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

# Test modules skip on this same path (a module-level skipif: conftest is not importable).
VLLM_PYTHON = Path(__file__).resolve().parents[3] / ".venv-vllm" / "bin" / "python"


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    return VLLM_PYTHON


@pytest.fixture(scope="session")
def vllm_env() -> dict[str, str]:
    """The environment for a .venv-vllm child: one math thread, no usage reporting."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    env.update(OMP_NUM_THREADS="1", VLLM_NO_USAGE_STATS="1", VLLM_DO_NOT_TRACK="1")
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return env


@pytest.fixture(scope="session")
def vllm_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tiny models of one shape with different random weights (seeds 0 and 1)."""
    from yatt.models.init import init_model

    root = tmp_path_factory.mktemp("vllm-models")
    return init_model("tiny", root / "a", seed=0), init_model("tiny", root / "b", seed=1)
