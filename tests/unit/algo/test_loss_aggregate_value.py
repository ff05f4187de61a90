"""Aggregation modes on ragged masks, GAE on 3-step examples, and the clipped value loss."""

import pytest
import torch

from yatt.services.trainer.losses import LossSettings, aggregate, gae, value_loss

pytestmark = pytest.mark.unit

# Ragged: row0 has 3 tokens, row1 one token, row2 none. 100s sit on padding.
LOSSES = torch.tensor([[1.0, 2.0, 3.0], [4.0, 100.0, 100.0], [100.0, 100.0, 100.0]])
MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


def test_token_mean_and_seq_mean_differ_on_ragged_masks() -> None:
    # token_mean: (1 + 2 + 3 + 4) / 4 = 2.5 -- long sequences weigh more
    # seq_mean: mean(6/3, 4/1) = 3.0 -- each sequence weighs the same
    # seq_mean_token_sum: mean(6, 4) = 5.0 ; the empty row is not a sequence
    assert aggregate(LOSSES, MASK, "token_mean").item() == 2.5
    assert aggregate(LOSSES, MASK, "seq_mean").item() == 3.0
    assert aggregate(LOSSES, MASK, "seq_mean_token_sum").item() == 5.0


def test_normalizer_makes_micro_batches_sum_to_the_batch() -> None:
    tok = sum(
        aggregate(LOSSES[i : i + 1], MASK[i : i + 1], "token_mean", normalizer=4.0)
        for i in range(3)
    )
    seq = sum(
        aggregate(LOSSES[i : i + 1], MASK[i : i + 1], "seq_mean", normalizer=2.0) for i in range(3)
    )
    assert tok.item() == pytest.approx(2.5) and seq.item() == pytest.approx(3.0)


def test_gae_three_steps_by_hand() -> None:
    # gamma 0.9, lambda 0.8 (gamma*lambda = 0.72). row0: r [0, 0, 1], V [0.5, 0.6, 0.7]
    #   t2: delta = 1 - 0.7 = 0.3                      A2 = 0.3
    #   t1: delta = 0.9*0.7 - 0.6 = 0.03               A1 = 0.03 + 0.72*0.3 = 0.246
    #   t0: delta = 0.9*0.6 - 0.5 = 0.04               A0 = 0.04 + 0.72*0.246 = 0.21712
    #   returns = A + V = [0.71712, 0.846, 1.0]
    # row1 ragged: mask [1, 1, 0], r [0, 2, pad], V [1.0, 0.5, pad 9]
    #   t1: delta = 2 - 0.5 = 1.5 ; t0: delta = 0.9*0.5 - 1 = -0.55, A0 = -0.55 + 0.72*1.5 = 0.53
    # row2 gap: mask [1, 0, 1], r [0, pad 5, 1], V [0.5, pad 9, 0.7]: the gap is skipped
    #   t2: A2 = 0.3 ; t0: delta = 0.9*0.7 - 0.5 = 0.13, A0 = 0.13 + 0.72*0.3 = 0.346
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, 2.0, 0.0], [0.0, 5.0, 1.0]])
    values = torch.tensor([[0.5, 0.6, 0.7], [1.0, 0.5, 9.0], [0.5, 9.0, 0.7]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    adv, ret = gae(rewards, values, mask, gamma=0.9, lam=0.8)
    torch.testing.assert_close(
        adv, torch.tensor([[0.21712, 0.246, 0.3], [0.53, 1.5, 0.0], [0.346, 0.0, 0.3]])
    )
    torch.testing.assert_close(
        ret, torch.tensor([[0.71712, 0.846, 1.0], [1.53, 2.0, 0.0], [0.846, 0.0, 1.0]])
    )


def test_gae_with_gamma_lambda_one_is_monte_carlo() -> None:
    rewards = torch.tensor([[0.0, 0.0, 1.0]])
    values = torch.tensor([[0.5, 0.6, 0.7]])
    adv, ret = gae(rewards, values, torch.ones(1, 3), gamma=1.0, lam=1.0)
    torch.testing.assert_close(adv, torch.tensor([[0.5, 0.4, 0.3]]))
    torch.testing.assert_close(ret, torch.ones(1, 3))


def test_value_loss_clipping() -> None:
    # value_clip 0.2, old values 1.0:
    # v=1.5 R=2: unclipped 0.25, clipped (1.2-2)^2 = 0.64 -> 0.64 (clip binds, no gradient)
    # v=1.1 R=0: both 1.21 -> 1.21
    # v=0.5 R=1: unclipped 0.25, clipped (0.8-1)^2 = 0.04 -> 0.25
    # 0.5 * [0.64, 1.21, 0.25] = [0.32, 0.605, 0.125]; token mean 0.35; * value_coef 0.5 = 0.175
    values = torch.tensor([[1.5, 1.1, 0.5]], requires_grad=True)
    old = torch.ones(1, 3)
    returns = torch.tensor([[2.0, 0.0, 1.0]])
    cfg = LossSettings(uses_critic=True, value_clip=0.2, value_coef=0.5)
    loss, m = value_loss(values, old, returns, torch.ones(1, 3), cfg)
    assert loss.item() == pytest.approx(0.175)
    assert m["value_loss"].item() == pytest.approx(0.35)
    assert m["value_clip_frac"].item() == pytest.approx(1 / 3)
    loss.backward()
    # grad = value_coef * (v - R) / 3 for unclipped tokens: [0, 0.5*1.1/3, 0.5*(-0.5)/3]
    torch.testing.assert_close(
        values.grad, torch.tensor([[0.0, 0.183333, -0.083333]]), atol=1e-5, rtol=0
    )
