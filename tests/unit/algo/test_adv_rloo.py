"""RLOO leave-one-out baselines against hand-computed values."""

import pytest
import torch

from yatt.controller.algo import compute_advantages

pytestmark = pytest.mark.unit


def test_rloo_leave_one_out_baseline() -> None:
    # Group 0 rewards [1, 0, 0]: baselines (0+0)/2 = 0, (1+0)/2 = 0.5, (1+0)/2 = 0.5
    #   -> advantages [1, -0.5, -0.5]  (= n/(n-1) * (r - mean) = 1.5 * [2/3, -1/3, -1/3]).
    # Group 1 rewards [3, 1]: baselines 1 and 3 -> [2, -2].
    # Group 2 has one sample: no baseline, advantage 0.
    rewards = torch.tensor([1.0, 0.0, 0.0, 3.0, 1.0, 4.0])
    groups = torch.tensor([0, 0, 0, 1, 1, 2])
    mask = torch.tensor(
        [[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1], [1, 1, 1], [1, 1, 1]], dtype=torch.float32
    )
    adv = compute_advantages("rloo", rewards, groups, mask)
    per_sample = torch.tensor([1.0, -0.5, -0.5, 2.0, -2.0, 0.0])
    torch.testing.assert_close(adv, per_sample[:, None] * mask)


def test_rloo_kl_in_reward() -> None:
    # kl sums [0.4, 0.0], kl_coef 1 -> rewards [0.6, 0.0] -> advantages [0.6, -0.6].
    kl = torch.tensor([[0.1, 0.3], [0.0, 0.0]])
    adv = compute_advantages(
        "rloo", torch.tensor([1.0, 0.0]), torch.tensor([5, 5]), torch.ones(2, 2), kl=kl, kl_coef=1.0
    )
    torch.testing.assert_close(adv, torch.tensor([[0.6, 0.6], [-0.6, -0.6]]))
