"""KL estimators and entropy from logits against hand-computed values."""

import math

import pytest
import torch

from yatt.services.trainer.losses import entropy_from_logits, kl_divergence, masked_entropy

pytestmark = pytest.mark.unit

LOGP = torch.tensor([[-1.0, -2.0, -0.3]])
REF = torch.tensor([[-1.5, -1.0, -0.3]])  # log_ratio = [0.5, -1.0, 0.0]


def test_k1_k2_k3_values() -> None:
    torch.testing.assert_close(kl_divergence(LOGP, REF, "k1"), torch.tensor([[0.5, -1.0, 0.0]]))
    torch.testing.assert_close(kl_divergence(LOGP, REF, "k2"), torch.tensor([[0.125, 0.5, 0.0]]))
    # k3 = exp(-lr) - 1 + lr: exp(-0.5) - 0.5 = 0.106531 ; e - 2 = 0.718282 ; 0
    k3 = kl_divergence(LOGP, REF, "k3")
    torch.testing.assert_close(k3, torch.tensor([[0.106531, 0.718282, 0.0]]), atol=1e-6, rtol=0)
    assert (k3 >= 0).all()


def test_k3_is_unbiased_for_true_kl() -> None:
    # pi = [0.7, 0.3], ref = [0.4, 0.6]: KL = 0.7 ln(7/4) + 0.3 ln(3/6) = 0.183792
    # E_pi[k1] and E_pi[k3] are both KL exactly.
    p = torch.tensor([0.7, 0.3])
    q = torch.tensor([0.4, 0.6])
    for est in ("k1", "k3"):
        expect = (p * kl_divergence(p.log(), q.log(), est)).sum()
        assert expect.item() == pytest.approx(0.183792, abs=1e-5)


def test_unknown_estimator() -> None:
    with pytest.raises(ValueError, match="k1, k2, k3"):
        kl_divergence(LOGP, REF, "k4")  # type: ignore[arg-type]


def test_entropy_values() -> None:
    # uniform over 4 -> ln 4 = 1.386294 ; softmax([0, ln 3]) = [1/4, 3/4]
    # -> 0.25 ln 4 + 0.75 ln(4/3) = 0.346574 + 0.215762 = 0.562335
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [0.0, math.log(3.0), -1e9, -1e9]]])
    ent = entropy_from_logits(logits)
    torch.testing.assert_close(ent, torch.tensor([[1.386294, 0.562335]]), atol=1e-5, rtol=0)
    masked = masked_entropy(logits, torch.tensor([[1.0, 0.0]]))
    torch.testing.assert_close(masked, torch.tensor([[1.386294, 0.0]]), atol=1e-5, rtol=0)
