"""Clipped surrogate, dual clip, TIS, KL and entropy terms of policy_loss, by hand."""

import math

import pytest
import torch

from yatt.config.algorithm import ReinforcePP
from yatt.services.trainer.losses import LossSettings, policy_loss

pytestmark = pytest.mark.unit


def _logp(ratios: list[float]) -> torch.Tensor:
    """Log-probs whose ratio to old log-probs of 0 is exactly `ratios`."""
    return torch.tensor([[math.log(r) for r in ratios]], requires_grad=True)


def test_decoupled_clip_binds_at_both_bounds() -> None:
    # DAPO bounds [1 - 0.2, 1 + 0.28] = [0.8, 1.28].
    # A=+1 r=1.5 -> max(-1.5, -1.28) = -1.28  (clipped high, no gradient)
    # A=+1 r=1.1 -> -1.1
    # A=-1 r=0.5 -> max(0.5, 0.8) = 0.8       (clipped low, no gradient)
    # A=-1 r=0.9 -> 0.9
    # token mean = (-1.28 - 1.1 + 0.8 + 0.9) / 4 = -0.17
    cfg = LossSettings(clip_low=0.2, clip_high=0.28)
    logp = _logp([1.5, 1.1, 0.5, 0.9])
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0]])
    loss, m = policy_loss(logp, torch.zeros(1, 4), adv, torch.ones(1, 4), cfg)
    assert loss.item() == pytest.approx(-0.17, abs=1e-6)
    assert m["clip_frac"].item() == 0.5
    assert m["clip_frac_high"].item() == 0.25 and m["clip_frac_low"].item() == 0.25
    assert m["ratio_mean"].item() == pytest.approx(1.0, abs=1e-6)
    assert m["policy_loss"].item() == pytest.approx(-0.17, abs=1e-6)
    loss.backward()
    # d/dlogp of -A * r / 4 is -A * r / 4: token2 -1.1/4, token4 +0.9/4; clipped tokens 0
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, -0.275, 0.0, 0.225]]))


def test_clip_is_pessimistic_only() -> None:
    # A=+1 r=0.5 -> max(-0.5, -0.8) = -0.5 ; A=-1 r=1.5 -> max(1.5, 1.2) = 1.5: the clip
    # never makes a step that hurts the objective look better, so neither is clipped.
    cfg = LossSettings()
    logp = _logp([0.5, 1.5])
    loss, m = policy_loss(
        logp, torch.zeros(1, 2), torch.tensor([[1.0, -1.0]]), torch.ones(1, 2), cfg
    )
    assert loss.item() == pytest.approx(0.5, abs=1e-6)  # (-0.5 + 1.5) / 2
    assert m["clip_frac"].item() == 0.0


def test_dual_clip_caps_negative_advantage_loss() -> None:
    # c = 3, bounds [0.8, 1.2]:
    # A=-1 r=5 -> ppo max(5, 1.2) = 5 -> dual min(5, 3) = 3
    # A=-1 r=2 -> ppo 2 -> dual min(2, 3) = 2
    # A=+1 r=5 -> -1.2 (dual clip only touches A < 0)
    # mean with dual (3 + 2 - 1.2) / 3 = 1.266667 ; without (5 + 2 - 1.2) / 3 = 1.933333
    adv = torch.tensor([[-1.0, -1.0, 1.0]])
    mask = torch.ones(1, 3)
    dual, _ = policy_loss(
        _logp([5.0, 2.0, 5.0]), torch.zeros(1, 3), adv, mask, LossSettings(dual_clip=3.0)
    )
    plain, _ = policy_loss(_logp([5.0, 2.0, 5.0]), torch.zeros(1, 3), adv, mask, LossSettings())
    assert dual.item() == pytest.approx(3.8 / 3, abs=1e-5)
    assert plain.item() == pytest.approx(5.8 / 3, abs=1e-5)


def test_truncated_importance_weights() -> None:
    # old - behaviour = [log 3, log 1.5, -log 2] -> weights min([3, 1.5, 0.5], cap 2) = [2, 1.5, 0.5]
    # ratio 1 and A = 1 -> per-token loss -w -> mean -(2 + 1.5 + 0.5) / 3 = -4/3
    old = torch.zeros(1, 3)
    behaviour = torch.tensor([[-math.log(3.0), -math.log(1.5), math.log(2.0)]])
    logp = torch.zeros(1, 3, requires_grad=True)
    cfg = LossSettings(tis_cap=2.0)
    adv, mask = torch.ones(1, 3), torch.ones(1, 3)
    loss, m = policy_loss(logp, old, adv, mask, cfg, behaviour_logprobs=behaviour)
    assert loss.item() == pytest.approx(-4 / 3, abs=1e-6)
    assert m["tis_weight_mean"].item() == pytest.approx(4 / 3, abs=1e-6)
    on_policy, m = policy_loss(logp, old, adv, mask, cfg)
    assert on_policy.item() == pytest.approx(-1.0) and m["tis_weight_mean"].item() == 1.0


def test_kl_loss_term_and_kl_in_reward() -> None:
    # log_ratio = logp - ref = [0.5, -1.0]
    # k3 = exp(-0.5) - 1 + 0.5 = 0.106531 ; exp(1) - 1 - 1 = 0.718282 ; mean 0.412406
    # A = 0 so the loss is kl_coef * 0.412406 = 0.0412406
    logp = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    ref = torch.tensor([[-1.5, -1.0]])
    zeros, mask = torch.zeros(1, 2), torch.ones(1, 2)
    cfg = LossSettings(kl_coef=0.1, kl_estimator="k3")
    loss, m = policy_loss(logp, logp.detach(), zeros, mask, cfg, ref_logprobs=ref)
    assert loss.item() == pytest.approx(0.0412406, abs=1e-6)
    assert m["kl"].item() == pytest.approx(0.412406, abs=1e-6)
    # k1 mean = (0.5 - 1.0) / 2 = -0.25
    _, m = policy_loss(
        logp,
        logp.detach(),
        zeros,
        mask,
        LossSettings(kl_coef=0.1, kl_estimator="k1"),
        ref_logprobs=ref,
    )
    assert m["kl"].item() == pytest.approx(-0.25)
    # KL already in the reward: reported but not added to the loss again
    cfg = LossSettings.from_spec(ReinforcePP(kl_coef=0.1, kl_placement="reward"))
    loss, m = policy_loss(logp, logp.detach(), zeros, mask, cfg, ref_logprobs=ref)
    assert loss.item() == 0.0 and m["kl"].item() == pytest.approx(0.412406, abs=1e-6)


def test_entropy_bonus_lowers_the_loss() -> None:
    logp = torch.zeros(1, 2, requires_grad=True)
    entropy = torch.tensor([[1.0, 2.0]])
    cfg = LossSettings(entropy_coef=0.01)
    loss, m = policy_loss(
        logp, torch.zeros(1, 2), torch.zeros(1, 2), torch.ones(1, 2), cfg, entropy=entropy
    )
    assert loss.item() == pytest.approx(-0.015)
    assert m["entropy"].item() == pytest.approx(1.5)


def test_padding_is_ignored() -> None:
    # the second token is padding with an absurd ratio and advantage: must not count
    logp = torch.tensor([[0.0, 10.0]], requires_grad=True)
    adv = torch.tensor([[1.0, -100.0]])
    mask = torch.tensor([[1.0, 0.0]])
    loss, m = policy_loss(logp, torch.zeros(1, 2), adv, mask, LossSettings())
    assert loss.item() == -1.0 and m["clip_frac"].item() == 0.0
    loss.backward()
    assert logp.grad[0, 1].item() == 0.0


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_one_sgd_step_moves_logprob_with_the_advantage(sign: float) -> None:
    # A tiny real policy: logits over 4 tokens; the sampled token is 2.
    torch.manual_seed(0)
    logits = torch.nn.Parameter(torch.randn(1, 3, 4))
    tokens = torch.tensor([[2, 2, 2]])
    opt = torch.optim.SGD([logits], lr=0.1)

    def token_logp() -> torch.Tensor:
        return torch.log_softmax(logits, -1).gather(-1, tokens[..., None])[..., 0]

    before = token_logp().detach()
    adv = torch.full((1, 3), sign)
    loss, _ = policy_loss(token_logp(), before, adv, torch.ones(1, 3), LossSettings())
    loss.backward()
    opt.step()
    after = token_logp().detach()
    assert (torch.sign(after - before) == sign).all()


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="advantages"):
        policy_loss(
            torch.zeros(2, 3),
            torch.zeros(2, 3),
            torch.zeros(2, 2),
            torch.ones(2, 3),
            LossSettings(),
        )
