"""PlacementCore: load readings -> state -> checked moves; rates measured from counters."""

from __future__ import annotations

import pytest

from yatt.contracts import WorkerMember, WorkerState
from yatt.placement.config import EstimatorConfig, PolicyConfig, load_placement_config
from yatt.placement.core import PlacementCore
from yatt.placement.estimator import LoadEstimator
from yatt.placement.policies.base import PlacementPolicy
from yatt.placement.policies.registry import POLICIES
from yatt.placement.state import InstanceLoad, Move, PlacementState

pytestmark = pytest.mark.unit


def sample(
    role: str, inst: str, t: float, served: float, busy: float, queue: float = 0
) -> InstanceLoad:
    return InstanceLoad(role, inst, t, queue_depth=queue, busy_fraction=busy, served=served)


def test_rate_is_served_per_busy_second() -> None:
    est = LoadEstimator(EstimatorConfig(window_s=10))
    est.observe([sample("reward", "a", 0, 0, 0.5)])
    # 10 served in 4 s at 50% busy -> 5 per busy second.
    roles = est.observe([sample("reward", "a", 4, 10, 0.5, queue=7)])
    assert roles["reward"].rate_per_slot == pytest.approx(5.0)
    assert roles["reward"].backlog == 7
    assert roles["reward"].work_s() == pytest.approx(7 / 5)


def test_idle_instances_keep_the_last_rate_and_resets_are_tolerated() -> None:
    est = LoadEstimator(EstimatorConfig(window_s=100, prior_rates={"rollout": 3.0}))
    assert est.observe([sample("rollout", "a", 0, 0, 0.0)])["rollout"].rate_per_slot == 3.0
    assert est.observe([sample("rollout", "a", 1, 0, 0.0)])["rollout"].rate_per_slot == 3.0
    est.observe([sample("rollout", "a", 2, 50, 1.0)])
    est.observe([sample("rollout", "a", 3, 2, 1.0)])  # counter went back: history restarts
    assert est.rate("rollout") is not None and est.rate("rollout") > 3.0


def test_busy_without_completions_caps_the_rate() -> None:
    est = LoadEstimator(EstimatorConfig(window_s=100, prior_rates={"reward": 10.0}))
    est.observe([sample("reward", "a", 0, 5, 1.0, queue=20)])
    roles = est.observe([sample("reward", "a", 8, 5, 1.0, queue=20)])
    assert roles["reward"].rate_per_slot == pytest.approx(1 / 8)


def test_gone_instances_are_forgotten() -> None:
    est = LoadEstimator()
    est.observe([sample("reward", "a", 0, 0, 1, queue=3), sample("reward", "b", 0, 0, 1, queue=4)])
    roles = est.observe([sample("reward", "b", 1, 2, 1, queue=4)])
    assert roles["reward"].instances == 1 and roles["reward"].queue_depth == 4


class Greedy(PlacementPolicy):
    """A deliberately bad policy: proposes emptying reward and overfilling rollout."""

    name = "greedy"

    def plan(self, state: PlacementState) -> list[Move]:
        return [
            Move(s, u, "rollout", "bad") for s, u in state.assignments.items() if u != "rollout"
        ]


def test_core_drops_moves_that_break_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(POLICIES, "greedy", Greedy)
    cfg = load_placement_config(
        data={
            "job": "j",
            "slots": 5,
            "roles": {"rollout": {"initial": 2, "max": 3}, "reward": {"initial": 3}},
            "policy": {"name": "greedy"},
        }
    )
    core = PlacementCore(cfg)
    state = core.state(0.0, core.initial_assignments(), [])
    moves = core.plan(state)
    # Only one of reward's three slots may go: rollout's max is 3.
    assert [(m.slot, m.from_role) for m in moves] == [(2, "reward")]


def test_settling_slots_come_from_worker_reports() -> None:
    cfg = load_placement_config(
        data={
            "job": "j",
            "slots": 2,
            "roles": {"rollout": {"initial": 1}, "reward": {"initial": 1}},
        }
    )
    core = PlacementCore(cfg)
    workers = {
        0: WorkerMember(slot=0, state=WorkerState.SERVING, role="rollout"),
        1: WorkerMember(slot=1, state=WorkerState.SERVING, role="rollout"),
    }
    state = core.state(0.0, {0: "rollout", 1: "reward"}, [], workers)
    assert state.settling == frozenset({1})
    core.set_policy(PolicyConfig(name="static"))
    assert core.policy.name == "static"
