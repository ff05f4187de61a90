"""Trainer losses: clipped policy surrogate with KL/entropy/TIS, critic loss and GAE.

Pure torch on [B, T] tensors aligned to completion tokens; loss_mask marks real tokens.
"""

from yatt.services.trainer.losses.aggregate import aggregate, masked_mean
from yatt.services.trainer.losses.entropy import entropy_from_logits, masked_entropy
from yatt.services.trainer.losses.kl import kl_divergence
from yatt.services.trainer.losses.policy import policy_loss
from yatt.services.trainer.losses.settings import LossSettings
from yatt.services.trainer.losses.value import gae, value_loss

__all__ = [
    "LossSettings",
    "aggregate",
    "entropy_from_logits",
    "gae",
    "kl_divergence",
    "masked_entropy",
    "masked_mean",
    "policy_loss",
    "value_loss",
]
