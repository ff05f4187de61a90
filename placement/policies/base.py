"""The placement policy interface: a pure function from load to moves, with typed options.

A policy never writes anything; the placement core validates its moves and applies them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from yatt.config.loader import ConfigModel

from ..state import Move, PlacementState


class PolicyOptions(ConfigModel):
    """A policy's parameters (PolicyConfig.params); subclasses add documented fields."""


class PlacementPolicy(ABC):
    """Subclasses set `name` and `Options` and implement `plan`."""

    name: ClassVar[str]
    Options: ClassVar[type[PolicyOptions]] = PolicyOptions

    def __init__(self, options: PolicyOptions) -> None:
        self.options = options

    @abstractmethod
    def plan(self, state: PlacementState) -> list[Move]:
        """Moves to make now (possibly none), each with a human-readable reason."""

    def params(self) -> dict:
        return self.options.model_dump(mode="json")
