"""Helpers of the placement tests: PlacementState builders and policy configs."""

from __future__ import annotations

from yatt.placement.state import PlacementState, RoleLoad, UnitLimits


def make_state(
    slots: dict[str, int],
    backlog: dict[str, float],
    rate: dict[str, float | None],
    *,
    now: float = 1000.0,
    last_move_at: float | None = None,
    limits: dict[str, tuple[int, int]] | None = None,
    busy: dict[str, float] | None = None,
    settling: frozenset[int] = frozenset(),
) -> PlacementState:
    """units -> slot counts (contiguous slots in dict order), per-role backlog and rate."""
    assignments: dict[int, str] = {}
    for unit, count in slots.items():
        for _ in range(count):
            assignments[len(assignments)] = unit
    total = len(assignments)
    roles = {
        role: RoleLoad(
            role,
            instances=1,
            queue_depth=backlog.get(role, 0.0),
            busy_fraction=(busy or {}).get(role, 1.0 if backlog.get(role) else 0.0),
            rate_per_slot=rate.get(role),
        )
        for role in {r for u in slots for r in u.split("+")}
    }
    lims = {
        u: UnitLimits(*(limits or {}).get(u, (1, total)))  # type: ignore[arg-type]
        for u in slots
    }
    return PlacementState(
        now=now,
        assignments=assignments,
        roles=roles,
        limits=lims,
        last_move_at=last_move_at,
        settling=settling,
    )
