"""ReferenceConfig: the reference service's typed config (server, etcd, model, batching).

Imports no torch and no grpc, so configs load and validate anywhere.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from yatt.config.common import EtcdConfig, RegistrationConfig, ServerConfig
from yatt.config.loader import ConfigModel


class ReferenceModelConfig(ConfigModel):
    """The frozen reference checkpoint: a local Hugging Face directory."""

    path: str = Field(..., description="Local model directory, loaded with from_pretrained.")
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="Compute dtype; float32 matches the trainer's log-probs to 1e-5."
    )


class ReferenceConfig(ConfigModel):
    """A reference service process: which model, how requests are batched, where it serves."""

    server: ServerConfig = Field(default_factory=ServerConfig, description="gRPC server.")
    etcd: EtcdConfig = Field(default_factory=EtcdConfig, description="Coordination store.")
    registration: RegistrationConfig = Field(
        default_factory=RegistrationConfig, description="Where to register (role `reference`)."
    )
    model: ReferenceModelConfig = Field(..., description="The frozen reference model.")
    max_batch_tokens: int = Field(
        16384, gt=0, description="Padded tokens (rows x longest row) per forward pass at most."
    )
    max_sequences: int = Field(
        4096, gt=0, description="Sequences one LogProbs call may carry; more is INVALID_ARGUMENT."
    )
    device: str = Field("cpu", description="torch device, e.g. cpu or cuda:0.")
    threads: int | None = Field(
        None, gt=0, description="torch intra-op threads on CPU (default: torch's choice)."
    )
