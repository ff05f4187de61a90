"""DAPO dynamic sampling: zero-variance groups are dropped and the refill quota is bounded."""

import pytest
import torch

from yatt.controller.algo import GroupQuota, useful_group_mask
from yatt.errors import InvalidArgument

pytestmark = pytest.mark.unit


def test_zero_variance_groups_are_dropped() -> None:
    # group 0 all 1 (drop), group 1 mixed (keep), group 2 one sample (drop), group 3 all 2 (drop)
    rewards = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.5, 2.0, 2.0])
    groups = torch.tensor([0, 0, 1, 1, 2, 3, 3])
    keep = useful_group_mask(rewards, groups)
    assert keep.tolist() == [False, False, True, True, False, False, False]


def test_tolerance_treats_near_equal_rewards_as_equal() -> None:
    rewards = torch.tensor([1.0, 1.0005, 0.0, 1.0])
    groups = torch.tensor([4, 4, 9, 9])
    assert useful_group_mask(rewards, groups).tolist() == [True, True, True, True]
    assert useful_group_mask(rewards, groups, atol=1e-3).tolist() == [False, False, True, True]


def test_quota_counts_groups_and_bounds_refills() -> None:
    quota = GroupQuota(target_groups=3, max_refills=2)
    first = quota.record(
        torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 3.0, 3.0]),
        torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]),
    )
    assert first.tolist() == [False, False, True, True, False, False, False, False]
    assert (quota.useful_groups, quota.dropped_groups, quota.remaining) == (1, 3, 2)
    assert not quota.satisfied
    # one useful group in four seen: 2 more groups need ceil(2 / (0.25 * 4)) = 2 shards of 4
    assert quota.shards_to_claim(groups_per_shard=4) == 2
    assert quota.claim_refill()
    quota.record(torch.tensor([0.0, 1.0, 1.0, 0.0]), torch.tensor([10, 10, 11, 11]))
    assert quota.satisfied and quota.remaining == 0
    assert quota.shards_to_claim(groups_per_shard=4) == 0
    assert not quota.claim_refill()  # satisfied: nothing more to claim
    assert quota.stats() == {
        "useful_groups": 3.0,
        "dropped_groups": 3.0,
        "useful_fraction": 0.5,
        "refills": 1.0,
        "refills_exhausted": 0.0,
    }


def test_refill_bound_is_reported_when_hit() -> None:
    quota = GroupQuota(target_groups=5, max_refills=1)
    quota.record(torch.tensor([1.0, 1.0]), torch.tensor([0, 0]))
    assert quota.claim_refill()
    quota.record(torch.tensor([0.0, 0.0]), torch.tensor([1, 1]))
    assert not quota.claim_refill()
    assert quota.exhausted and quota.refills == 1
    assert quota.stats()["refills_exhausted"] == 1.0
    # nothing useful seen yet: assume every group is useful rather than divide by zero
    assert quota.shards_to_claim(groups_per_shard=2) == 3


def test_quota_rejects_nonsense_bounds() -> None:
    with pytest.raises(InvalidArgument):
        GroupQuota(target_groups=0, max_refills=1)
    with pytest.raises(InvalidArgument):
        GroupQuota(target_groups=1, max_refills=-1)
