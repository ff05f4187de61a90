"""The process registry: every role resolves to a config class and an entry point, and flags
become `--set` items that read back as exactly the value given."""

from __future__ import annotations

import inspect
import sys

import pytest

from yatt.config import format_overrides, load_config, parse_overrides
from yatt.config.loader import ConfigModel
from yatt.errors import ConfigError
from yatt.process.registry import PROCESSES, SERVICE_ROLES, command, process_spec

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("role", sorted(PROCESSES))
def test_every_role_has_a_config_class_and_an_async_entry_point(role: str) -> None:
    spec = process_spec(role)
    assert issubclass(spec.config_class(), ConfigModel)
    assert inspect.iscoroutinefunction(spec.entry_point())


def test_registry_holds_every_process_and_the_services() -> None:
    assert set(PROCESSES) == {
        "rollout", "reward", "reference", "trainer", "controller", "placement", "worker"
    }  # fmt: skip
    assert SERVICE_ROLES == ("rollout", "reward", "reference", "trainer")
    with pytest.raises(ConfigError, match="unknown role 'nope'.*rollout"):
        process_spec("nope")


@pytest.mark.parametrize(
    "value", ["007", "1e3", "true", "null", "a: b", "[x]", "host:2379", 'quo"te', 3, 0.5, True]
)
def test_format_overrides_reads_back_the_value_given(value: object) -> None:
    assert parse_overrides(format_overrides({"a.b": value})) == {"a": {"b": value}}


def test_format_overrides_leaves_out_what_was_not_given() -> None:
    assert format_overrides({"job": None, "slot": 2}) == ["slot=2"]


REQUIRED = {"placement": ["slots=2", "roles.rollout.initial=1"], "worker": ["slot=1"]}


def test_job_007_stays_a_string_for_every_role_with_a_job_flag() -> None:
    for role in ("controller", "placement", "worker"):
        spec = process_spec(role)
        sets = [*REQUIRED.get(role, []), *spec.flag_overrides(job="007", etcd="127.0.0.1:2379")]
        cfg = load_config(spec.config_class(), None, sets)
        assert cfg.job == "007", role  # type: ignore[attr-defined]
        assert cfg.etcd.endpoint == "127.0.0.1:2379"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="takes no flag"):
        process_spec("rollout").flag_overrides(job="j")


def test_command_runs_the_role_through_the_registry() -> None:
    argv = command("reward", "r.yaml", ["a=1"], python="/py")
    assert argv == ["/py", "-m", "yatt.process", "reward", "--config", "r.yaml", "--set", "a=1"]
    assert command("controller")[:3] == [sys.executable, "-m", "yatt.process"]
