"""The static policy: the starting map is the final map (the baseline dynamic placement beats).

This is what a launch-time split does: the reference WeChat-YATT code places roles only once.
"""

from __future__ import annotations

from ..state import Move, PlacementState
from .base import PlacementPolicy


class StaticPolicy(PlacementPolicy):
    name = "static"

    def plan(self, state: PlacementState) -> list[Move]:
        return []
