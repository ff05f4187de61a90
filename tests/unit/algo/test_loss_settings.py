"""The trainer's loss settings built from the job's algorithm spec: each KL weight lands where
the trainer applies it (or nowhere, when the controller does), PPO brings its critic settings."""

from __future__ import annotations

import pytest

from yatt.config.algorithm import NAMES, parse_algorithm
from yatt.services.trainer.losses import LossSettings

pytestmark = pytest.mark.unit


def test_default_grpo_is_the_old_default_loss() -> None:
    assert LossSettings.from_spec(parse_algorithm({"name": "grpo"})) == LossSettings()


@pytest.mark.parametrize("name", NAMES)
def test_shared_settings_carry_over(name: str) -> None:
    spec = parse_algorithm({
        "name": name, "clip_low": 0.1, "clip_high": 0.3, "dual_clip": 3.0, "kl_coef": 0.05,
        "kl_estimator": "k2", "aggregation": "seq_mean", "entropy_coef": 0.01,
    })  # fmt: skip
    loss = LossSettings.from_spec(spec, tis_cap=4.0)
    assert (loss.clip_low, loss.clip_high, loss.dual_clip) == (0.1, 0.3, 3.0)
    assert (loss.kl_coef, loss.kl_estimator, loss.kl_reward_coef) == (0.05, "k2", 0.0)
    assert (loss.aggregation, loss.entropy_coef, loss.tis_cap) == ("seq_mean", 0.01, 4.0)
    assert loss.uses_critic == (name == "ppo") and loss.needs_ref_logprobs


@pytest.mark.parametrize("name", ["grpo", "dr_grpo", "dapo", "rloo", "reinforce_pp"])
def test_critic_free_reward_kl_is_the_controllers(name: str) -> None:
    spec = parse_algorithm({"name": name, "kl_coef": 0.05, "kl_placement": "reward"})
    loss = LossSettings.from_spec(spec)
    assert (loss.kl_coef, loss.kl_reward_coef, loss.needs_ref_logprobs) == (0.0, 0.0, False)


def test_ppo_reward_kl_goes_into_gae_and_critic_settings_carry_over() -> None:
    spec = parse_algorithm({
        "name": "ppo", "kl_coef": 0.05, "kl_placement": "reward", "value_coef": 1.0,
        "value_clip": 0.5, "gamma": 0.99, "gae_lambda": 0.9,
    })  # fmt: skip
    loss = LossSettings.from_spec(spec)
    assert (loss.kl_coef, loss.kl_reward_coef, loss.needs_ref_logprobs) == (0.0, 0.05, True)
    assert (loss.value_coef, loss.value_clip, loss.gamma, loss.gae_lambda) == (1.0, 0.5, 0.99, 0.9)
