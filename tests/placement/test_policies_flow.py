"""The flow policy: moves several slots toward the balanced split, within every guarantee."""

from __future__ import annotations

import pytest
from _placement_helpers import make_state

from yatt.errors import ConfigError
from yatt.placement.config import PolicyConfig
from yatt.placement.policies.flow_balance import FlowBalanceOptions, FlowBalancePolicy
from yatt.placement.policies.registry import build_policy

pytestmark = pytest.mark.unit

# Judge on: rollout 2 s per item, reward 3 s, reference 0.25 s (rates are items/s per slot).
JUDGE_ON = {"rollout": 0.5, "reward": 1 / 3, "reference": 4.0}


def policy(**params: object) -> FlowBalancePolicy:
    base = {"threshold": 0.1, "cooldown_s": 5.0, "max_moves": 8, "max_utilization": 1.0}
    return FlowBalancePolicy(FlowBalanceOptions(**{**base, **params}))


def test_balanced_split_equalizes_capacity_within_limits() -> None:
    state = make_state({"rollout": 14, "reward": 4, "reference": 2}, {}, JUDGE_ON)
    assert FlowBalancePolicy.balanced_split(state) == {"rollout": 8, "reward": 11, "reference": 1}
    capped = make_state(
        {"rollout": 14, "reward": 4, "reference": 2}, {}, JUDGE_ON, limits={"reward": (1, 9)}
    )
    assert FlowBalancePolicy.balanced_split(capped)["reward"] == 9


def test_a_phase_change_moves_several_slots_at_once() -> None:
    # The judge turned on: reward (4 slots, 1.33 items/s) throttles rollout's 7 items/s.
    state = make_state({"rollout": 14, "reward": 4, "reference": 2}, {"reward": 60}, JUDGE_ON)
    moves = policy(max_moves=8).plan(state)
    assert [(m.from_role, m.to_role) for m in moves] == [("rollout", "reward")] * 6 + [
        ("reference", "reward")
    ]  # fmt: skip
    assert [m.slot for m in moves[:6]] == [13, 12, 11, 10, 9, 8]  # the donor's highest slots
    assert "pipeline 1.33 -> 3.67 items/s" in moves[0].reason
    # max_moves bounds one decision; the rest follows after the cool-down.
    assert len(policy(max_moves=3).plan(state)) == 3


def test_no_move_when_the_flow_gain_is_below_threshold() -> None:
    # 8/11/1 is balanced; 7/12/1 carries 3.5 vs 3.67 items/s: a 4.8% gain.
    state = make_state({"rollout": 7, "reward": 12, "reference": 1}, {}, JUDGE_ON)
    assert policy(threshold=0.05).plan(state) == []
    assert policy(threshold=0.04).plan(state)
    balanced = make_state({"rollout": 8, "reward": 11, "reference": 1}, {}, JUDGE_ON)
    assert policy(threshold=0.0).plan(balanced) == []


def test_never_takes_the_last_slot_nor_breaks_min_and_max() -> None:
    rates = {"rollout": 0.5, "reward": 1 / 3, "reference": 100.0}
    state = make_state({"rollout": 5, "reward": 1, "reference": 1}, {"reward": 9}, rates)
    moves = policy().plan(state)
    assert moves and all(m.from_role == "rollout" for m in moves)  # reference keeps its 1
    at_min = make_state({"rollout": 5, "reward": 1, "reference": 1}, {}, rates,
                        limits={"rollout": (5, 7)})  # fmt: skip
    assert policy().plan(at_min) == []
    at_max = make_state({"rollout": 5, "reward": 1, "reference": 1}, {}, rates,
                        limits={"reward": (1, 1)})  # fmt: skip
    assert policy().plan(at_max) == []


def test_a_donor_stays_under_max_utilization() -> None:
    # Moving a rollout slot to reward lifts the flow from 2.33 to 2.5 items/s, which rollout's
    # 5 remaining slots carry only at 100% busy: above 95%, so no donor is found.
    state = make_state({"rollout": 6, "reward": 7, "reference": 1}, {}, JUDGE_ON)
    assert policy(max_utilization=0.95, threshold=0.0).plan(state) == []
    [move] = policy(max_utilization=1.0, threshold=0.0).plan(state)
    assert (move.from_role, move.to_role) == ("rollout", "reward")


def test_cooldown_and_settling_are_respected() -> None:
    args = ({"rollout": 14, "reward": 4, "reference": 2}, {"reward": 60}, JUDGE_ON)
    assert policy().plan(make_state(*args, now=1004.0, last_move_at=1000.0)) == []
    assert policy().plan(make_state(*args, now=1005.5, last_move_at=1000.0))
    assert policy().plan(make_state(*args, settling=frozenset({17}))) == []
    # Not waiting for settled workers: a settled slot is given up before one still starting.
    [move] = policy(wait_settled=False, max_moves=1).plan(
        make_state(*args, settling=frozenset({13}))
    )
    assert move.slot == 12


def test_falls_back_to_the_wait_rule_until_every_rate_is_known() -> None:
    rates = {"rollout": 2.0, "reward": 1.0, "reference": None}
    state = make_state({"rollout": 3, "reward": 1, "reference": 1}, {"reward": 40}, rates)
    [move] = policy().plan(state)
    assert "expected wait" in move.reason  # the queue_balance rule decided


def test_registered_and_validated_by_name() -> None:
    built = build_policy(PolicyConfig(name="flow_balance", params={"max_moves": 16}))
    assert isinstance(built, FlowBalancePolicy) and built.options.max_moves == 16
    with pytest.raises(ConfigError, match="policy.params.threshold"):
        build_policy(PolicyConfig(name="flow_balance", params={"threshold": -1}))
