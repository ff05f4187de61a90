"""REINFORCE++ token-level returns with KL-in-reward and batch whitening, by hand."""

import pytest
import torch

from yatt.controller.algo import compute_advantages, token_level_rewards

pytestmark = pytest.mark.unit

MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
KL = torch.tensor([[0.1, 0.2, 0.3], [0.2, 0.4, 5.0]])  # 5.0 sits on a padded position
REWARDS = torch.tensor([1.0, 0.0])
GROUPS = torch.tensor([0, 0])


def test_token_rewards_put_outcome_on_last_token() -> None:
    # kl_coef 0.5: row0 [-0.05, -0.10, -0.15 + 1] ; row1 [-0.10, -0.20 + 0, 0 (pad)]
    out = token_level_rewards(REWARDS, MASK, KL, kl_coef=0.5)
    torch.testing.assert_close(out, torch.tensor([[-0.05, -0.1, 0.85], [-0.1, -0.2, 0.0]]))


def test_reinforce_pp_whitens_returns_over_valid_tokens() -> None:
    # returns (gamma 1): row0 [0.70, 0.75, 0.85]; row1 [-0.30, -0.20, pad]
    # valid: 0.70 0.75 0.85 -0.30 -0.20 -> mean 1.8 / 5 = 0.36
    # deviations 0.34 0.39 0.49 -0.66 -0.56; squares sum 1.257; population var 0.2514
    # std 0.501398 -> [0.678104, 0.777825, 0.977268, -1.316320, -1.116877]
    adv = compute_advantages("reinforce_pp", REWARDS, GROUPS, MASK, kl=KL, kl_coef=0.5)
    expected = torch.tensor([[0.678104, 0.777825, 0.977268], [-1.316320, -1.116877, 0.0]])
    torch.testing.assert_close(adv, expected, atol=1e-5, rtol=0)
    valid = adv[MASK > 0]
    assert abs(valid.mean().item()) < 1e-6
    assert abs(valid.pow(2).mean().sqrt().item() - 1.0) < 1e-5


def test_discount_applies_along_tokens() -> None:
    # gamma 0.5, no KL: row0 returns [0.25, 0.5, 1.0]; row1 returns [0, 0] (reward 0).
    # valid: 0.25 0.5 1.0 0 0 -> mean 0.35; deviations -0.1 0.15 0.65 -0.35 -0.35
    # squares 0.01 0.0225 0.4225 0.1225 0.1225 -> var 0.14, std 0.374166
    adv = compute_advantages("reinforce_pp", REWARDS, GROUPS, MASK, gamma=0.5)
    expected = torch.tensor([[-0.267261, 0.400892, 1.737198], [-0.935414, -0.935414, 0.0]])
    torch.testing.assert_close(adv, expected, atol=1e-5, rtol=0)


def test_group_baseline_changes_only_the_outcome_offset() -> None:
    # Two groups whose reward scales differ: baseline-free whitening ranks them by scale,
    # group baseline makes each group's mean zero before whitening.
    rewards = torch.tensor([10.0, 12.0, 0.0, 2.0])
    groups = torch.tensor([0, 0, 1, 1])
    mask = torch.ones(4, 1)
    plain = compute_advantages("reinforce_pp", rewards, groups, mask)
    based = compute_advantages("reinforce_pp", rewards, groups, mask, group_baseline=True)
    assert plain[2, 0] < 0 and plain[1, 0] > 0 and plain[0, 0] > 0
    # centred rewards [-1, 1, -1, 1] -> whitened exactly [-1, 1, -1, 1]
    torch.testing.assert_close(based[:, 0], torch.tensor([-1.0, 1.0, -1.0, 1.0]))
