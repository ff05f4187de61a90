"""Pooled rate estimation, and the policies in the discrete-event model of the pipeline."""

from __future__ import annotations

import pytest

from yatt.placement.config import EstimatorConfig, load_placement_config
from yatt.placement.estimator import LoadEstimator
from yatt.placement.simulate import Phase, WorkloadModel, simulate
from yatt.placement.state import InstanceLoad

pytestmark = pytest.mark.unit


def test_rates_pool_many_lightly_busy_instances() -> None:
    # 20 reward slots, each 2% busy with 1 ms items: none alone passes the 5% busy floor,
    # together they are 0.4 slots busy and finished 4000 items in 10 s.
    est = LoadEstimator(EstimatorConfig(window_s=10, busy_floor=0.05))
    est.observe([InstanceLoad("reward", f"r{i}", 0.0) for i in range(20)])
    roles = est.observe(
        [InstanceLoad("reward", f"r{i}", 10.0, busy_fraction=0.02, served=200) for i in range(20)]
    )
    assert roles["reward"].rate_per_slot == pytest.approx(1000.0)
    # 4 slots 1% busy each: 0.04 slots in total, below the floor: not measured.
    est = LoadEstimator(EstimatorConfig(window_s=10, busy_floor=0.05))
    est.observe([InstanceLoad("reward", f"r{i}", 0.0) for i in range(4)])
    roles = est.observe(
        [InstanceLoad("reward", f"r{i}", 10.0, busy_fraction=0.01, served=1) for i in range(4)]
    )
    assert roles["reward"].rate_per_slot is None


def config(slots: int, split: dict[str, int], policy: str, **params: object):  # noqa: ANN201
    return load_placement_config(
        data={
            "job": "sim",
            "slots": slots,
            "roles": {r: {"initial": n} for r, n in split.items()},
            "policy": {"name": policy, "params": params},
        }  # fmt: skip
    )


def test_flow_policy_follows_the_judge_and_beats_the_static_split() -> None:
    # Phase 1 rollout-bound, phase 2 reward-bound (a judge); the static split is the best for
    # the whole job, the dynamic one starts from it and must end with reward the largest.
    model = WorkloadModel(
        phases=(
            Phase(0.5, {"rollout": 2.0, "reward": 0.1, "reference": 0.2}),
            Phase(0.5, {"rollout": 2.0, "reward": 3.0, "reference": 0.2}),
        ),
        items_per_slot=150,
        cv=0.3,
        switch_default_s=10.0,
    )
    split = {"rollout": 4, "reward": 5, "reference": 1}
    static = simulate(model, split, config(10, split, "static"))
    dynamic = simulate(
        model, split, config(10, split, "flow_balance", cooldown_s=5.0, wait_settled=False)
    )
    assert static.moves == 0 and static.final == split
    assert dynamic.makespan < static.makespan / 1.1
    first_phase = [(a, b) for t, a, b in dynamic.trace if t < 50]
    assert ("reward", "rollout") in first_phase  # rollout-bound: reward gives slots up
    assert dynamic.final["reward"] > dynamic.final["rollout"]  # then the judge gets them back
    assert all(n >= 1 for n in dynamic.final.values())
