"""LossConfig validation through load_config: bad values name their key."""

import pytest

from yatt.config.loader import load_config
from yatt.errors import ConfigError
from yatt.services.trainer.losses import LossConfig

pytestmark = pytest.mark.unit


def test_defaults_are_grpo() -> None:
    cfg = load_config(LossConfig)
    assert (cfg.algorithm, cfg.clip_low, cfg.clip_high, cfg.kl_estimator) == (
        "grpo",
        0.2,
        0.2,
        "k3",
    )
    assert not cfg.uses_critic
    assert load_config(LossConfig, overrides=["algorithm=ppo"]).uses_critic


def test_dapo_overrides() -> None:
    cfg = load_config(LossConfig, overrides=["algorithm=dapo", "clip_high=0.28", "dual_clip=3"])
    assert cfg.clip_high == 0.28 and cfg.dual_clip == 3.0


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("clip_low=1.0", "clip_low"),
        ("clip_low=0", "clip_low"),
        ("clip_high=-0.1", "clip_high"),
        ("dual_clip=0.5", "dual_clip"),
        ("kl_estimator=k4", "kl_estimator"),
        ("aggregation=sum", "aggregation"),
        ("algorithm=trpo", "algorithm"),
        ("tis_cap=0.5", "tis_cap"),
        ("gamma=1.5", "gamma"),
        ("kl_coeff=0.1", "kl_coeff: unknown key"),
    ],
)
def test_bad_values_name_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_config(LossConfig, overrides=[override])


def test_kl_in_reward_needs_a_coefficient() -> None:
    with pytest.raises(ConfigError, match="kl_in_reward needs kl_coef"):
        load_config(LossConfig, overrides=["kl_in_reward=true"])
    assert load_config(LossConfig, overrides=["kl_in_reward=true", "kl_coef=0.05"]).kl_in_reward


def test_every_field_is_documented() -> None:
    for name, field in LossConfig.model_fields.items():
        assert field.description, name
