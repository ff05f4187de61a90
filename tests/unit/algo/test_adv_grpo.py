"""GRPO and Dr.GRPO advantages against hand-computed values, plus registry and input checks."""

import pytest
import torch

from yatt.controller.algo import compute_advantages, estimator_options, get_estimator
from yatt.errors import ConfigError, InvalidArgument

pytestmark = pytest.mark.unit

# Group 7: rewards [1, 0, 0] -> mean 1/3, deviations [2/3, -1/3, -1/3],
#   unbiased var = (4/9 + 1/9 + 1/9) / 2 = 1/3, std = 0.577350.
#   grpo: [2/3, -1/3, -1/3] / 0.577350 = [1.154701, -0.577350, -0.577350]
# Group 3: rewards [3, 1] -> mean 2, deviations [1, -1], var = 2, std = 1.414214.
#   grpo: [0.707107, -0.707107]
# Ids are interleaved on purpose: groups are found by id, not by position.
REWARDS = torch.tensor([1.0, 3.0, 0.0, 1.0, 0.0])
GROUPS = torch.tensor([7, 3, 7, 3, 7])
MASK = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 1, 1]], dtype=torch.float32)


def test_grpo_normalizes_within_groups() -> None:
    adv = compute_advantages("grpo", REWARDS, GROUPS, MASK, eps=0.0)
    per_sample = torch.tensor([1.154701, 0.707107, -0.577350, -0.707107, -0.577350])
    torch.testing.assert_close(adv, per_sample[:, None] * MASK, atol=1e-5, rtol=0)
    assert (adv[MASK == 0] == 0).all()


def test_dr_grpo_does_not_divide_by_std() -> None:
    adv = compute_advantages("dr_grpo", REWARDS, GROUPS, MASK)
    per_sample = torch.tensor([2 / 3, 1.0, -1 / 3, -1.0, -1 / 3])
    torch.testing.assert_close(adv, per_sample[:, None] * MASK)
    same = compute_advantages("grpo", REWARDS, GROUPS, MASK, norm_by_std=False)
    torch.testing.assert_close(adv, same)


def test_grpo_eps_keeps_zero_variance_group_finite() -> None:
    adv = compute_advantages(
        "grpo", torch.tensor([2.0, 2.0]), torch.tensor([0, 0]), torch.ones(2, 2)
    )
    assert torch.equal(adv, torch.zeros(2, 2))


def test_singleton_group_gets_zero_advantage() -> None:
    adv = compute_advantages("grpo", torch.tensor([5.0]), torch.tensor([0]), torch.ones(1, 2))
    assert torch.equal(adv, torch.zeros(1, 2))


def test_grpo_kl_in_reward_uses_masked_sequence_kl() -> None:
    # kl sums over valid tokens: row0 0.2 + 0.2 = 0.4 (the 9.0 is masked), row1 0.
    # kl_coef 0.5 -> rewards [1 - 0.2, 0] = [0.8, 0]; dr_grpo -> [0.4, -0.4].
    kl = torch.tensor([[0.2, 0.2, 9.0], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    adv = compute_advantages(
        "dr_grpo", torch.tensor([1.0, 0.0]), torch.tensor([0, 0]), mask, kl=kl, kl_coef=0.5
    )
    torch.testing.assert_close(adv, torch.tensor([[0.4, 0.4, 0.0], [-0.4, -0.4, -0.4]]))


def test_kl_coef_without_kl_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="kl"):
        compute_advantages("grpo", REWARDS, GROUPS, MASK, kl_coef=0.1)


@pytest.mark.parametrize(
    ("rewards", "groups", "match"),
    [
        (torch.tensor([1.0, float("nan"), 0.0, 1.0, 0.0]), GROUPS, "NaN or inf at samples \\[1\\]"),
        (torch.tensor([1.0, float("inf"), 0.0, 1.0, 0.0]), GROUPS, "NaN or inf"),
        (REWARDS, GROUPS.to(torch.int32), "int64"),
        (REWARDS[:4], GROUPS[:4], "loss_mask"),
        (torch.tensor([1, 0, 0, 1, 0]), GROUPS, "floating point"),
    ],
)
def test_bad_inputs_are_invalid_argument(rewards, groups, match) -> None:
    with pytest.raises(InvalidArgument, match=match):
        compute_advantages("grpo", rewards, groups, MASK)


def test_unknown_estimator_lists_known_names() -> None:
    with pytest.raises(ConfigError, match="known: dapo, dr_grpo, grpo, reinforce_pp, rloo"):
        get_estimator("ppo2")
    with pytest.raises(ConfigError, match="critic"):
        get_estimator("ppo")


def test_unknown_option_names_accepted_ones() -> None:
    with pytest.raises(ConfigError, match="no option\\(s\\) \\['gamma'\\]"):
        compute_advantages("grpo", REWARDS, GROUPS, MASK, gamma=0.9)
    assert estimator_options("grpo") == ["norm_by_std", "eps", "kl_coef"]
    assert "gamma" in estimator_options("reinforce_pp")


def test_dapo_uses_grpo_advantages() -> None:
    torch.testing.assert_close(
        compute_advantages("dapo", REWARDS, GROUPS, MASK),
        compute_advantages("grpo", REWARDS, GROUPS, MASK),
    )
