"""RewardConfig: the reward service's typed config (server, etcd, registration, functions).

Imports no torch and no grpc, so configs load and validate anywhere.
"""

from __future__ import annotations

from pydantic import Field

from yatt.config.common import EtcdConfig, RegistrationConfig, ServerConfig
from yatt.config.loader import ConfigModel

from .plugins.base import FunctionSpec


class RewardConfig(ConfigModel):
    """A reward service process: which functions it sums and where it serves them."""

    server: ServerConfig = Field(default_factory=ServerConfig, description="gRPC server.")
    etcd: EtcdConfig = Field(default_factory=EtcdConfig, description="Coordination store.")
    registration: RegistrationConfig = Field(
        default_factory=RegistrationConfig, description="Where to register (role `reward`)."
    )
    functions: list[FunctionSpec] = Field(
        ...,
        min_length=1,
        description="Reward functions by plugin name; the reply's total is their weighted sum.",
    )
    threads: int = Field(
        1, gt=0, description="Threads that run blocking functions (rules, models) off the loop."
    )
    max_batch: int = Field(
        4096, gt=0, description="Most samples one Score call may carry; more is INVALID_ARGUMENT."
    )
