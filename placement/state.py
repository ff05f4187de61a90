"""What a placement policy sees: slots with their units, and per-unit load aggregates.

Plain dataclasses with no etcd or grpc, so policies are pure functions of a PlacementState
that tests and the policy-level simulation build directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import UNIT_SEP


def roles_of(unit: str) -> tuple[str, ...]:
    """The roles a unit runs: "rollout+reward" -> ("rollout", "reward")."""
    return tuple(unit.split(UNIT_SEP))


@dataclass(frozen=True)
class InstanceLoad:
    """One instance's published load (keys.load value) as read at `time`."""

    role: str
    instance: str
    time: float
    queue_depth: float = 0.0
    in_flight: float = 0.0
    busy_fraction: float = 0.0
    tokens_per_s: float = 0.0
    served: float = 0.0
    refused: float = 0.0

    @classmethod
    def from_dict(cls, role: str, instance: str, time: float, raw: dict) -> InstanceLoad:
        def num(key: str) -> float:
            value = raw.get(key, 0)
            return float(value) if isinstance(value, int | float) else 0.0

        return cls(
            role=role,
            instance=instance,
            time=time,
            queue_depth=num("queue_depth"),
            in_flight=num("in_flight"),
            busy_fraction=num("busy_fraction"),
            tokens_per_s=num("tokens_per_s"),
            served=num("served"),
            refused=num("refused"),
        )


@dataclass(frozen=True)
class RoleLoad:
    """One role's aggregate over its live instances.

    backlog = queued + in-flight requests (work the role still owes); rate_per_slot = requests
    one slot completes per second while busy (None until measured).
    """

    role: str
    instances: int = 0
    queue_depth: float = 0.0
    in_flight: float = 0.0
    busy_fraction: float = 0.0
    tokens_per_s: float = 0.0
    rate_per_slot: float | None = None

    @property
    def backlog(self) -> float:
        return self.queue_depth + self.in_flight

    def work_s(self) -> float | None:
        """Seconds of one slot's time the backlog needs; None when unknown (no rate yet)."""
        if self.backlog <= 0:
            return 0.0
        if not self.rate_per_slot:
            return None
        return self.backlog / self.rate_per_slot


@dataclass(frozen=True)
class UnitLimits:
    min: int
    max: int


@dataclass(frozen=True)
class PlacementState:
    """Everything a policy decides from, at one instant."""

    now: float
    assignments: dict[int, str]
    roles: dict[str, RoleLoad]
    limits: dict[str, UnitLimits]
    last_move_at: float | None = None
    # Slots whose worker has not yet settled on its assigned unit (starting, draining).
    settling: frozenset[int] = field(default_factory=frozenset)

    def slots_of(self, unit: str) -> list[int]:
        return sorted(s for s, u in self.assignments.items() if u == unit)

    def count(self, unit: str) -> int:
        return sum(1 for u in self.assignments.values() if u == unit)

    def units(self) -> list[str]:
        return list(self.limits)

    def work_s(self, unit: str) -> float | None:
        """Slot-seconds of backlog of every role in the unit (they share the unit's slots)."""
        total = 0.0
        for role in roles_of(unit):
            work = self.roles.get(role, RoleLoad(role)).work_s()
            if work is None:
                return None
            total += work
        return total

    def expected_wait(self, unit: str, slots: int | None = None) -> float | None:
        """Expected wait for the unit's backlog with `slots` slots (default: its current)."""
        slots = self.count(unit) if slots is None else slots
        work = self.work_s(unit)
        if work is None:
            return None
        if slots <= 0:
            return float("inf") if work > 0 else 0.0
        return work / slots

    def item_seconds(self, unit: str) -> float | None:
        """Slot-seconds one item costs the unit (every item visits every role of the pipeline)."""
        total = 0.0
        for role in roles_of(unit):
            rate = self.roles.get(role, RoleLoad(role)).rate_per_slot
            if not rate:
                return None
            total += 1.0 / rate
        return total

    def capacity(self, unit: str, slots: int | None = None) -> float | None:
        """Items per second the unit completes with `slots` slots (default: its current)."""
        per_item = self.item_seconds(unit)
        slots = self.count(unit) if slots is None else slots
        return None if per_item is None else slots / per_item

    def busy(self, unit: str) -> float:
        """Busy fraction of the unit's slots (a group's roles share them, so theirs add up)."""
        return sum(self.roles[r].busy_fraction for r in roles_of(unit) if r in self.roles)

    def queue_depths(self) -> dict[str, float]:
        return {role: load.backlog for role, load in self.roles.items()}


@dataclass(frozen=True)
class Move:
    """One slot reassigned from one unit to another, and why."""

    slot: int
    from_role: str
    to_role: str
    reason: str
    time: float = 0.0
    queue_depths: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PlacementView:
    """What the PlacementService's Status reports: who leads, with which policy, and the moves."""

    leader: str
    policy: str
    assignments: dict[int, str]  # slot -> unit
    history: list[Move]  # newest last
