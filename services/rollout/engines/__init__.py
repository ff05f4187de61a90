"""Rollout engines by name; each engine module is imported only when chosen (vllm is heavy)."""

from __future__ import annotations

import importlib

from yatt.errors import ConfigError
from yatt.services.rollout.engines.base import RolloutEngine

# Adding an engine is adding its module and one line here: name -> "module:Class".
ENGINES: dict[str, str] = {
    "hf": "yatt.services.rollout.engines.hf:HFEngine",
    "vllm": "yatt.services.rollout.engines.vllm:VLLMEngine",
    "sim": "yatt.services.rollout.engines.sim:SimEngine",
}


def build_engine(name: str, model_path: str, **options: object) -> RolloutEngine:
    """Imports and builds the engine called name; ConfigError listing the known ones otherwise."""
    try:
        target = ENGINES[name]
    except KeyError:
        raise ConfigError(f"engine: unknown engine {name!r}; known: {sorted(ENGINES)}") from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(model_path, **options)
