"""Critic-free RL algorithm math the controller runs: advantages, dynamic sampling, overlong shaping.

Pure torch on small per-shard tensors; no services, so every piece is unit-testable.
"""

from yatt.controller.algo.base import masked_whiten, token_level_rewards
from yatt.controller.algo.dynamic_sampling import GroupQuota, useful_group_mask
from yatt.controller.algo.overlong import apply_overlong_penalty, overlong_penalty
from yatt.controller.algo.registry import (
    ADVANTAGE_ESTIMATORS,
    advantages_for,
    compute_advantages,
    estimator_options,
    get_estimator,
)

__all__ = [
    "ADVANTAGE_ESTIMATORS",
    "GroupQuota",
    "advantages_for",
    "apply_overlong_penalty",
    "compute_advantages",
    "estimator_options",
    "get_estimator",
    "masked_whiten",
    "overlong_penalty",
    "token_level_rewards",
    "useful_group_mask",
]
