"""Losses keep every intermediate on the inputs' device (checked on 'meta', no GPU needed):
a stray CPU tensor would fail here exactly as it would on CUDA."""

import pytest
import torch

from yatt.services.trainer.losses import LossSettings, gae, policy_loss, value_loss

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("aggregation", ["token_mean", "seq_mean", "seq_mean_token_sum"])
def test_losses_stay_on_the_input_device(aggregation: str) -> None:
    def t() -> torch.Tensor:
        return torch.empty(2, 3, device="meta")

    cfg = LossSettings(kl_coef=0.1, entropy_coef=0.01, dual_clip=3.0, aggregation=aggregation)
    loss, metrics = policy_loss(
        t(), t(), t(), t(), cfg, ref_logprobs=t(), behaviour_logprobs=t(), entropy=t()
    )
    assert loss.device.type == "meta"
    assert all(v.device.type == "meta" for v in metrics.values())
    loss, _ = policy_loss(t(), t(), t(), t(), cfg, normalizer=8.0)
    assert loss.device.type == "meta"
    adv, ret = gae(t(), t(), t(), gamma=1.0, lam=0.95)
    assert adv.device.type == ret.device.type == "meta"
    loss, metrics = value_loss(t(), t(), t(), t(), cfg)
    assert loss.device.type == "meta"
