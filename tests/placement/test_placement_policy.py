"""The policies as pure functions: moves only past threshold and cool-down, within limits."""

from __future__ import annotations

import pytest
from _placement_helpers import make_state

from yatt.placement.config import PolicyConfig
from yatt.placement.policies.queue_balance import QueueBalanceOptions, QueueBalancePolicy
from yatt.placement.policies.registry import build_policy
from yatt.placement.policies.static import StaticPolicy

pytestmark = pytest.mark.unit


def policy(**params: float) -> QueueBalancePolicy:
    base = {"threshold": 0.2, "cooldown_s": 10.0, "min_wait_s": 0.5}
    return QueueBalancePolicy(QueueBalanceOptions(**{**base, **params}))


def test_moves_a_slot_from_slack_to_the_longest_wait() -> None:
    # reward: 40 queued at 1/s on 1 slot = 40 s; rollout idle on 3 slots.
    state = make_state({"rollout": 3, "reward": 1}, {"reward": 40}, {"rollout": 2.0, "reward": 1.0})
    [move] = policy().plan(state)
    assert (move.from_role, move.to_role) == ("rollout", "reward")
    assert move.slot == 2  # the donor's highest slot
    assert "reward expected wait 40.00s" in move.reason
    assert move.queue_depths == {"rollout": 0.0, "reward": 40.0}


def test_no_move_when_gain_is_below_threshold() -> None:
    rates = {"rollout": 1.0, "reward": 3.0}
    # rollout 22 s on 2 slots, reward 12 s on 3. Moving makes rollout 14.7 s, reward 18 s:
    # the longest wait drops 22 -> 18 s, an 18% gain.
    state = make_state({"rollout": 2, "reward": 3}, {"rollout": 44, "reward": 108}, rates)
    assert policy(threshold=0.2).plan(state) == []
    [move] = policy(threshold=0.15).plan(state)
    assert (move.from_role, move.to_role) == ("reward", "rollout")
    # A move that would make the donor the new, worse bottleneck never happens.
    state = make_state({"rollout": 2, "reward": 2}, {"rollout": 40, "reward": 90}, rates)
    assert policy(threshold=0.0, max_utilization=1.0).plan(state) == []


def test_a_donor_keeps_the_slots_the_new_flow_needs() -> None:
    # After the move rollout carries 3 items/s; reward at 1.5/s per slot needs 2 slots for
    # that: on 2 slots it would be 100% busy, so it keeps its 3.
    state = make_state(
        {"rollout": 2, "reward": 3}, {"rollout": 40}, {"rollout": 1.0, "reward": 1.5}
    )
    assert policy().plan(state) == []
    state = make_state(
        {"rollout": 2, "reward": 3}, {"rollout": 40}, {"rollout": 1.0, "reward": 2.5}
    )
    assert policy().plan(state)
    # Rate unknown: the measured busy fraction decides (70% on 3 slots = 105% on 2).
    busy = {"rollout": 1.0, "reward": 0.7}
    state = make_state({"rollout": 2, "reward": 3}, {"rollout": 40}, {"rollout": 1.0}, busy=busy)
    assert policy().plan(state) == []
    busy = {"rollout": 1.0, "reward": 0.5}
    state = make_state({"rollout": 2, "reward": 3}, {"rollout": 40}, {"rollout": 1.0}, busy=busy)
    assert policy().plan(state)


def test_a_queue_behind_a_slower_unit_gets_no_slot() -> None:
    # reward queues, but rollout (1 item/s in all) is what limits the pipeline: reward's
    # 2 items/s already outpace it, so its queue drains by itself.
    state = make_state({"rollout": 1, "reward": 2, "reference": 2}, {"reward": 40},
                       {"rollout": 1.0, "reward": 1.0, "reference": 10.0})  # fmt: skip
    assert policy().plan(state) == []


def test_threshold_is_relative_gain() -> None:
    # before max(20, 0) = 20 s; after max(10, 0) = 10 s: a 50% gain.
    state = make_state({"rollout": 2, "reward": 1}, {"reward": 20}, {"rollout": 4.0, "reward": 1.0})
    assert policy(threshold=0.49).plan(state)
    assert policy(threshold=0.5).plan(state) == []


def test_cooldown_blocks_then_allows() -> None:
    args = ({"rollout": 3, "reward": 1}, {"reward": 40}, {"rollout": 2.0, "reward": 1.0})
    assert policy().plan(make_state(*args, now=1005.0, last_move_at=1000.0)) == []
    assert policy().plan(make_state(*args, now=1010.5, last_move_at=1000.0))


def test_never_takes_a_role_last_slot() -> None:
    # reference idle with one slot: it is never the donor, even with min 0 semantics.
    state = make_state(
        {"rollout": 1, "reward": 1, "reference": 1},
        {"reward": 100},
        {"rollout": 1.0, "reward": 1.0, "reference": 1.0},
    )
    assert policy().plan(state) == []


def test_min_and_max_are_respected() -> None:
    rates = {"rollout": 1.0, "reward": 1.0}
    # rollout holds 2 with min 2: it cannot donate.
    at_min = make_state(
        {"rollout": 2, "reward": 1}, {"reward": 50}, rates, limits={"rollout": (2, 4)}
    )
    assert policy().plan(at_min) == []
    # reward holds its max 1: it cannot receive.
    at_max = make_state(
        {"rollout": 3, "reward": 1}, {"reward": 50}, rates, limits={"reward": (1, 1)}
    )
    assert policy().plan(at_max) == []


def test_picks_the_donor_with_the_most_slack() -> None:
    state = make_state(
        {"rollout": 3, "reference": 3, "reward": 1},
        {"rollout": 6, "reward": 60},
        {"rollout": 4.0, "reference": 4.0, "reward": 1.0},
    )
    [move] = policy().plan(state)
    assert move.from_role == "reference"  # as loaded after the move; idle, rollout would wait


def test_unknown_rate_neither_receives_nor_donates_blindly() -> None:
    state = make_state(
        {"rollout": 3, "reward": 1}, {"reward": 40}, {"rollout": 2.0, "reward": None}
    )
    assert policy().plan(state) == []
    state = make_state(
        {"rollout": 3, "reward": 1}, {"rollout": 5, "reward": 40}, {"rollout": None, "reward": 1.0}
    )
    assert policy().plan(state) == []


def test_waits_while_a_worker_is_switching() -> None:
    args = ({"rollout": 3, "reward": 1}, {"reward": 40}, {"rollout": 2.0, "reward": 1.0})
    assert policy().plan(make_state(*args, settling=frozenset({1}))) == []
    assert policy(wait_settled=False).plan(make_state(*args, settling=frozenset({1})))


def test_small_waits_are_noise() -> None:
    state = make_state(
        {"rollout": 3, "reward": 1}, {"reward": 0.4}, {"rollout": 1.0, "reward": 1.0}
    )
    assert policy().plan(state) == []


def test_group_units_share_their_slots() -> None:
    # rollout+reward time-share 2 slots: 20 s + 20 s of work over 2 slots = 20 s wait.
    state = make_state(
        {"rollout+reward": 2, "reference": 2},
        {"rollout": 20, "reward": 20},
        {"rollout": 1.0, "reward": 1.0, "reference": 10.0},
    )
    assert state.expected_wait("rollout+reward") == pytest.approx(20.0)
    [move] = policy().plan(state)
    assert (move.from_role, move.to_role) == ("reference", "rollout+reward")


def test_static_never_moves() -> None:
    state = make_state(
        {"rollout": 3, "reward": 1}, {"reward": 1e6}, {"rollout": 1.0, "reward": 1e-3}
    )
    assert StaticPolicy(StaticPolicy.Options()).plan(state) == []
    assert build_policy(PolicyConfig(name="static")).plan(state) == []


def test_several_moves_per_decision_are_planned_one_after_another() -> None:
    # reward: 60 s of work on 1 slot; rollout idle on 7: three moves bring it to 15 s.
    state = make_state({"rollout": 7, "reward": 1}, {"reward": 60}, {"rollout": 4.0, "reward": 1.0})
    moves = policy(max_moves=3).plan(state)
    assert [(m.slot, m.to_role) for m in moves] == [(6, "reward"), (5, "reward"), (4, "reward")]
    assert "expected wait 30.00s" in moves[1].reason  # planned with the first move made
