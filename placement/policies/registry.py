"""Placement policies by name; adding one is a file and a line in POLICIES.

build_policy validates the params with the policy's Options and names the key at fault.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from yatt.config.loader import load_config
from yatt.errors import ConfigError

from .base import PlacementPolicy
from .flow_balance import FlowBalancePolicy
from .queue_balance import QueueBalancePolicy
from .static import StaticPolicy

if TYPE_CHECKING:
    from ..config import PolicyConfig

POLICIES: dict[str, type[PlacementPolicy]] = {
    StaticPolicy.name: StaticPolicy,
    QueueBalancePolicy.name: QueueBalancePolicy,
    FlowBalancePolicy.name: FlowBalancePolicy,
}


def build_policy(cfg: PolicyConfig, key: str = "policy") -> PlacementPolicy:
    """The configured policy; ConfigError naming `policy.name` or `policy.params.<field>`."""
    cls = POLICIES.get(cfg.name)
    if cls is None:
        raise ConfigError(
            f"{key}.name: unknown placement policy {cfg.name!r}; known: {', '.join(POLICIES)}"
        )
    try:
        options = load_config(cls.Options, data=dict(cfg.params))
    except ConfigError as exc:
        raise ConfigError(f"{key}.params.{exc}") from None
    return cls(options)
