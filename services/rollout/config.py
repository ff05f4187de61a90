"""RolloutConfig: the rollout service's typed config (server, etcd, model, engine, sampling).

Imports no torch and no grpc, so configs load and validate anywhere.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from yatt.config.common import EtcdConfig, RegistrationConfig, ServerConfig
from yatt.config.loader import ConfigModel


class ModelConfig(ConfigModel):
    """The policy checkpoint: a local Hugging Face directory (model + tokenizer)."""

    path: str = Field(..., description="Local model directory, loaded with from_pretrained.")
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="Weight dtype; LoadWeights must send exactly this dtype."
    )


class SamplingConfig(ConfigModel):
    """Sampling used when a GenerateRequest carries no params."""

    temperature: float = Field(1.0, ge=0, description="0 means greedy.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus mass; 1 disables.")
    top_k: int = Field(0, ge=0, description="Keep the k most likely tokens; 0 disables.")
    max_new_tokens: int = Field(64, gt=0, description="Tokens to sample at most per completion.")
    n: int = Field(1, gt=0, description="Samples per prompt.")


class RolloutConfig(ConfigModel):
    """A rollout service process: which model and engine, and where it serves them."""

    server: ServerConfig = Field(default_factory=ServerConfig, description="gRPC server.")
    etcd: EtcdConfig = Field(default_factory=EtcdConfig, description="Coordination store.")
    registration: RegistrationConfig = Field(
        default_factory=RegistrationConfig, description="Where to register (role `rollout`)."
    )
    model: ModelConfig = Field(..., description="The policy model to serve.")
    engine: Literal["hf", "vllm", "sim"] = Field(
        "hf", description="Engine: hf (transformers, CPU/GPU), vllm, or sim."
    )
    engine_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra keyword options for the engine's constructor (see the engine module).",
    )
    max_batch: int = Field(
        256, gt=0, description="Rows (prompts x n) the engine decodes together at most."
    )
    max_samples_per_request: int = Field(
        4096, gt=0, description="prompts x n allowed in one Generate; more is INVALID_ARGUMENT."
    )
    engine_concurrency: int = Field(
        1, gt=0, description="Generate calls the engine runs at once (others wait their turn)."
    )
    threads: int | None = Field(
        None, gt=0, description="torch intra-op threads on CPU (default: torch's choice)."
    )
    sampling: SamplingConfig = Field(
        default_factory=SamplingConfig, description="Default sampling for requests without params."
    )
