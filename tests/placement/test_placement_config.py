"""Placement config: bad policy config is refused naming the key; units and starting maps."""

from __future__ import annotations

import pytest

from yatt.errors import ConfigError
from yatt.placement.config import load_placement_config
from yatt.placement.core import PlacementCore

pytestmark = pytest.mark.unit

BASE = {
    "job": "j",
    "slots": 4,
    "roles": {"rollout": {"initial": 2}, "reward": {"initial": 1}, "reference": {"initial": 1}},
}


def cfg(**extra: object):
    return load_placement_config(data={**BASE, **extra})


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"roles": {"rollout": {"min": 3, "max": 2}, "reward": {}}}, "roles.rollout.min"),
        ({"roles": {"rollout": {}, "rewrd": {}}}, "roles.rewrd"),
        ({"policy": {"params": {"threshold": -0.1}}}, "policy.params.threshold"),
        ({"policy": {"params": {"cooldown_s": -1}}}, "policy.params.cooldown_s"),
        ({"policy": {"params": {"min_wait_s": -1}}}, "policy.params.min_wait_s"),
        ({"policy": {"params": {"treshold": 0.1}}}, "policy.params.treshold"),
        ({"policy": {"name": "magic"}}, "policy.name"),
        ({"mode": "partial", "groups": [["rollout", "judge"]]}, "groups.0"),
        ({"mode": "partial"}, "groups"),
        ({"groups": [["rollout", "reward"]]}, "groups"),
        ({"slots": 5}, "roles: initial slots add up to 4"),
        ({"roles": {"rollout": {"min": 3}, "reward": {"min": 2}}}, "roles: minimum slots"),
        ({"roles": {"rollout": {"min": 0}}}, "roles.rollout.min"),
        ({"estimator": {"prior_rates": {"judge": 1.0}}}, "estimator.prior_rates.judge"),
        ({"mode": "mixed"}, "mode"),
    ],
)
def test_bad_config_is_refused_naming_the_key(data: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        cfg(**data)
    assert key in str(err.value)


def test_config_file_and_overrides(tmp_path) -> None:
    path = tmp_path / "placement.yaml"
    path.write_text(
        "job: j\nslots: 4\nroles: {rollout: {initial: 3}, reward: {initial: 1}}\n"
        "policy: {name: queue_balance, params: {threshold: 0.3}}\n"
    )
    loaded = load_placement_config(path, ["policy.params.cooldown_s=5", "job=k"])
    assert loaded.job == "k"
    assert loaded.policy.params == {"threshold": 0.3, "cooldown_s": 5}
    with pytest.raises(ConfigError, match="policy.params.cooldown_s"):
        load_placement_config(path, ["policy.params.cooldown_s=-5"])


def test_disaggregated_starting_map_follows_initial_counts() -> None:
    core = PlacementCore(cfg())
    assert core.initial_assignments() == {0: "rollout", 1: "rollout", 2: "reward", 3: "reference"}


def test_even_spread_when_no_initial_counts() -> None:
    core = PlacementCore(cfg(slots=5, roles={"rollout": {}, "reward": {}, "reference": {"max": 1}}))
    start = core.initial_assignments()
    assert sorted(start.values()) == ["reference", "reward", "reward", "rollout", "rollout"]


def test_colocated_puts_every_role_on_every_slot() -> None:
    c = cfg(mode="colocated", roles={"rollout": {}, "reward": {}})
    assert c.units() == {"rollout+reward": ("rollout", "reward")}
    assert set(PlacementCore(c).initial_assignments().values()) == {"rollout+reward"}


def test_partial_groups_share_and_others_stay_apart() -> None:
    c = cfg(
        mode="partial",
        groups=[["rollout", "reward"]],
        roles={"rollout": {"initial": 3}, "reward": {"max": 3}, "reference": {"initial": 1}},
    )
    assert c.units() == {"rollout+reward": ("rollout", "reward"), "reference": ("reference",)}
    assert c.unit_limits()["rollout+reward"] == (3, 1, 3)
    assert PlacementCore(c).initial_assignments() == {
        0: "rollout+reward", 1: "rollout+reward", 2: "rollout+reward", 3: "reference",
    }  # fmt: skip


def test_repairs_fill_unassigned_and_unknown_slots() -> None:
    core = PlacementCore(cfg(slots=4, roles={"rollout": {}, "reward": {}}))
    fixes = core.repairs({0: "rollout", 1: "rollout", 3: "judge"})
    assert fixes == {2: "reward", 3: "reward"}
    assert core.repairs({0: "rollout", 1: "reward", 2: "reward", 3: "rollout"}) == {}
