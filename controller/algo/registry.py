"""The one table of critic-free advantage estimators, keyed by the algorithm names of
yatt.config.algorithm (PPO's advantages come from the trainer's critic, so it has none here).

Adding an estimator is one file, one line here and one spec class.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import Tensor

from yatt.config.algorithm import AlgorithmSpec
from yatt.controller.algo.grpo import dr_grpo_advantages, grpo_advantages
from yatt.controller.algo.reinforce_pp import reinforce_pp_advantages
from yatt.controller.algo.rloo import rloo_advantages
from yatt.errors import ConfigError

# Each estimator is an AdvantageEstimator with its own keyword options, which a Protocol with
# **options cannot express: the table holds them as plain callables.
ADVANTAGE_ESTIMATORS: dict[str, Callable[..., Tensor]] = {
    "grpo": grpo_advantages,
    "dr_grpo": dr_grpo_advantages,
    # DAPO's advantages are GRPO's; what differs is clipping, aggregation and sampling.
    "dapo": grpo_advantages,
    "rloo": rloo_advantages,
    "reinforce_pp": reinforce_pp_advantages,
}


def get_estimator(name: str) -> Callable[..., Tensor]:
    """The estimator registered under name; ConfigError listing the known names otherwise."""
    try:
        return ADVANTAGE_ESTIMATORS[name]
    except KeyError:
        known = ", ".join(sorted(ADVANTAGE_ESTIMATORS))
        hint = " (ppo advantages come from the trainer's critic via GAE)" if name == "ppo" else ""
        raise ConfigError(f"unknown advantage estimator {name!r}{hint}; known: {known}") from None


def estimator_options(name: str) -> list[str]:
    """Names of the keyword options an estimator accepts (besides kl)."""
    params = inspect.signature(get_estimator(name)).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "kl"]


def compute_advantages(
    name: str,
    rewards: Tensor,
    group_ids: Tensor,
    loss_mask: Tensor,
    *,
    kl: Tensor | None = None,
    **options: Any,
) -> Tensor:
    """Per-token advantages [B, T] (zero outside loss_mask) by the estimator called name.

    rewards [B] float, group_ids [B] int64 (samples of one prompt share an id), loss_mask
    [B, T], kl [B, T] per-token KL to the reference (used when options carry kl_coef > 0).
    Unknown options raise ConfigError naming the accepted ones; bad tensors InvalidArgument.
    """
    estimator = get_estimator(name)
    accepted = estimator_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"advantage estimator {name!r} has no option(s) {unknown}; accepted: {accepted}"
        )
    return estimator(rewards, group_ids, loss_mask, kl=kl, **options)


def advantages_for(
    spec: AlgorithmSpec,
    rewards: Tensor,
    group_ids: Tensor,
    loss_mask: Tensor,
    *,
    kl: Tensor | None = None,
) -> Tensor:
    """compute_advantages with the options the spec carries: the settings named like the
    estimator's keyword options, and kl_coef only when the KL goes into the reward."""
    options: dict[str, Any] = {
        name: getattr(spec, name) for name in estimator_options(spec.name) if hasattr(spec, name)
    }
    options.pop("kl_coef", None)
    if spec.kl_placement == "reward":
        options["kl_coef"] = spec.kl_coef
    return compute_advantages(spec.name, rewards, group_ids, loss_mask, kl=kl, **options)
