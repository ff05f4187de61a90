"""The job's algorithm spec: every variant parses, its defaults, and refusals that name the key."""

from __future__ import annotations

from typing import get_args

import pytest

from yatt.config.algorithm import (
    ALGORITHMS,
    DAPO,
    GRPO,
    NAMES,
    PPO,
    AlgorithmSpec,
    ReinforcePP,
    algorithm_of_job,
    parse_algorithm,
)
from yatt.config.loader import dump_config
from yatt.errors import ConfigError

pytestmark = pytest.mark.unit


def test_names_are_the_variants_in_order() -> None:
    assert NAMES == tuple(cls.model_fields["name"].default for cls in ALGORITHMS)
    union = get_args(get_args(AlgorithmSpec)[0])
    assert union == ALGORITHMS


@pytest.mark.parametrize("name", NAMES)
def test_each_variant_parses_and_round_trips(name: str) -> None:
    spec = parse_algorithm({"name": name})
    assert spec.name == name and type(spec) is ALGORITHMS[NAMES.index(name)]
    assert parse_algorithm(spec.model_dump(mode="json")) == spec
    assert spec.needs_critic == (name == "ppo")


def test_defaults_are_todays_grpo() -> None:
    """The job default: GRPO, no KL, one version of staleness, token-mean, clip 0.2/0.2."""
    spec = GRPO()
    assert (spec.max_staleness, spec.kl_coef, spec.kl_placement, spec.kl_estimator) == (
        1, 0.0, "loss", "k3",
    )  # fmt: skip
    assert (spec.clip_low, spec.clip_high, spec.dual_clip) == (0.2, 0.2, None)
    assert (spec.aggregation, spec.entropy_coef) == ("token_mean", 0.0)
    assert spec.needs_groups and not spec.needs_reference


def test_variant_settings_and_defaults() -> None:
    dapo = parse_algorithm({"name": "dapo"})
    assert isinstance(dapo, DAPO)
    assert dapo.clip_high == 0.28 and dapo.dynamic_sampling and dapo.overlong.enabled
    ppo = parse_algorithm({"name": "ppo", "kl_coef": 0.05, "kl_placement": "reward"})
    assert isinstance(ppo, PPO) and not ppo.needs_groups and ppo.needs_reference
    assert (ppo.value_coef, ppo.value_clip, ppo.gamma, ppo.gae_lambda) == (0.5, 0.2, 1.0, 0.95)
    rpp = parse_algorithm({"name": "reinforce_pp"})
    assert isinstance(rpp, ReinforcePP) and not rpp.needs_groups
    assert parse_algorithm({"name": "reinforce_pp", "group_baseline": True}).needs_groups


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "trpo"}, r"algorithm: .*'trpo'"),
        ({"kl_coef": 0.1}, r"algorithm: .*'name' is required"),
        ({"name": "grpo", "advantage": "grpo"}, r"'advantage' is now algorithm\.name"),
        ({"name": "grpo", "kl_coef_in_reward": 0.1}, r"'kl_coef_in_reward' is now algorithm"),
        ({"name": "ppo", "kl_in_reward": True}, r"'kl_in_reward' is now algorithm\.kl_placement"),
        ({"name": "grpo", "clip_low": 1.0}, r"algorithm\.grpo\.clip_low"),
        ({"name": "grpo", "dual_clip": 0.5}, r"algorithm\.grpo\.dual_clip"),
        ({"name": "grpo", "kl_estimator": "k4"}, r"algorithm\.grpo\.kl_estimator"),
        ({"name": "grpo", "aggregation": "sum"}, r"algorithm\.grpo\.aggregation"),
        ({"name": "grpo", "max_staleness": -1}, r"algorithm\.grpo\.max_staleness"),
        ({"name": "grpo", "kl_placement": "reward"}, "kl_placement reward needs kl_coef > 0"),
        ({"name": "ppo", "gamma": 1.5}, r"algorithm\.ppo\.gamma"),
        # A setting of another algorithm is an unknown key here.
        ({"name": "grpo", "dynamic_sampling": True}, r"grpo\.dynamic_sampling: unknown key"),
        ({"name": "dapo", "value_coef": 1.0}, r"dapo\.value_coef: unknown key"),
    ],
)
def test_refusals_name_the_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_algorithm(data)


def test_every_field_is_documented() -> None:
    for cls in ALGORITHMS:
        for name, field in cls.model_fields.items():
            assert field.description, f"{cls.__name__}.{name}"


def test_the_trainer_reads_it_from_a_job_config_text() -> None:
    from yatt.controller.config import JobConfig

    job = JobConfig(job="j", data={"path": "x"}, algorithm={"name": "dapo", "max_refills": 3})
    assert algorithm_of_job(dump_config(job)) == job.algorithm
    assert algorithm_of_job("job: j\n") == GRPO()  # the JobConfig default
    with pytest.raises(ConfigError, match=r"algorithm\.dapo\.bogus"):
        algorithm_of_job("algorithm: {name: dapo, bogus: 1}")
