"""The placement core: starting map, load -> PlacementState, and policy moves checked for safety.

No etcd and no grpc here: the leader feeds it readings and applies what it returns, so the
decision logic is tested (and simulated in bench/placement.py) without any server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from yatt.contracts import WorkerMember, WorkerState

from .config import PlacementConfig, PolicyConfig
from .estimator import LoadEstimator
from .policies.base import PlacementPolicy
from .policies.registry import build_policy
from .state import InstanceLoad, Move, PlacementState, UnitLimits

log = logging.getLogger(__name__)


class PlacementCore:
    """Holds the policy and the rate estimator of one placement process."""

    def __init__(self, cfg: PlacementConfig) -> None:
        cfg.check()
        self.cfg = cfg
        self.policy: PlacementPolicy = build_policy(cfg.policy)
        self.policy_cfg = cfg.policy
        self.estimator = LoadEstimator(cfg.estimator)
        self.limits = {
            unit: UnitLimits(low, high) for unit, (_, low, high) in cfg.unit_limits().items()
        }

    def set_policy(self, policy: PolicyConfig) -> PlacementPolicy:
        """Replaces the policy (validated first: a bad one leaves the current in place)."""
        self.policy = build_policy(policy)
        self.policy_cfg = policy
        return self.policy

    def initial_assignments(self) -> dict[int, str]:
        """The starting map: configured initial counts in order, or an even spread."""
        limits = self.cfg.unit_limits()
        counts = {unit: initial for unit, (initial, _, _) in limits.items()}
        if not any(counts.values()):
            counts = {unit: low for unit, (_, low, _) in limits.items()}
            spare = self.cfg.slots - sum(counts.values())
            while spare > 0:
                open_units = [u for u in counts if counts[u] < limits[u][2]]
                if not open_units:
                    break
                for unit in open_units[:spare]:
                    counts[unit] += 1
                    spare -= 1
        out: dict[int, str] = {}
        slot = 0
        for unit, count in counts.items():
            for _ in range(count):
                out[slot] = unit
                slot += 1
        fallback = next(iter(limits))
        for rest in range(slot, self.cfg.slots):
            out[rest] = fallback
        return out

    def repairs(self, assignments: Mapping[int, str]) -> dict[int, str]:
        """Slots with no assignment, or one naming a unit this config lacks, and what to give
        them: the unit furthest below its minimum, else the one with the fewest slots."""
        current = {s: u for s, u in assignments.items() if u in self.limits}
        fixes: dict[int, str] = {}
        for slot in range(self.cfg.slots):
            if slot in current:
                continue
            counts = {u: list(current.values()).count(u) for u in self.limits}
            unit = min(self.limits, key=lambda u: (counts[u] - self.limits[u].min, counts[u]))
            current[slot] = fixes[slot] = unit
        return fixes

    def state(
        self,
        now: float,
        assignments: Mapping[int, str],
        samples: Iterable[InstanceLoad],
        workers: Mapping[int, WorkerMember] | None = None,
        last_move_at: float | None = None,
    ) -> PlacementState:
        """Feeds one load reading to the estimator and builds the policy's view."""
        roles = self.estimator.observe(samples)
        settling = frozenset(
            slot
            for slot, info in (workers or {}).items()
            if slot in assignments
            and (info.state != WorkerState.SERVING or info.role != assignments[slot])
        )
        return PlacementState(
            now=now,
            assignments={s: u for s, u in assignments.items() if s < self.cfg.slots},
            roles=roles,
            limits=self.limits,
            last_move_at=last_move_at,
            settling=settling,
        )

    def plan(self, state: PlacementState) -> list[Move]:
        """The policy's moves, dropping any that would break a limit (a policy bug guard)."""
        counts = {u: state.count(u) for u in self.limits}
        assigned = dict(state.assignments)
        accepted = []
        for move in self.policy.plan(state):
            problem = self._invalid(move, assigned, counts)
            if problem:
                log.error(
                    "policy %s proposed an invalid move %s: %s", self.policy.name, move, problem
                )
                continue
            counts[move.from_role] -= 1
            counts[move.to_role] += 1
            assigned[move.slot] = move.to_role
            accepted.append(move)
        return accepted

    def _invalid(self, move: Move, assigned: dict[int, str], counts: dict[str, int]) -> str:
        if assigned.get(move.slot) != move.from_role:
            return f"slot {move.slot} is not assigned {move.from_role}"
        if move.to_role not in self.limits:
            return f"unknown unit {move.to_role}"
        if move.to_role == move.from_role:
            return "moves nowhere"
        if counts[move.from_role] - 1 < max(1, self.limits[move.from_role].min):
            return f"{move.from_role} would fall below its minimum (or lose its last slot)"
        if counts[move.to_role] + 1 > self.limits[move.to_role].max:
            return f"{move.to_role} would exceed its maximum"
        return ""
