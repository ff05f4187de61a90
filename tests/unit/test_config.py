"""Config loading: YAML + --set overrides, unknown keys and bad values named by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from yatt.config import ConfigModel, dump_config, load_config, parse_overrides
from yatt.config.common import EtcdConfig, ServerConfig
from yatt.errors import ConfigError

pytestmark = pytest.mark.unit


class ExampleConfig(ConfigModel):
    server: ServerConfig = ServerConfig()
    etcd: EtcdConfig = EtcdConfig()
    name: str = "x"
    tags: list[str] = []


def test_overrides_parse_yaml_values() -> None:
    assert parse_overrides(["a.b=3", "a.c=true", "d=[1, 2]", "e=hello", "f="]) == {
        "a": {"b": 3, "c": True},
        "d": [1, 2],
        "e": "hello",
        "f": "",
    }


def test_yaml_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("server:\n  port: 7000\n  max_queue: 2\nname: from-file\n")
    cfg = load_config(ExampleConfig, path, ["server.port=7001", "tags=[a,b]"])
    assert cfg.server.port == 7001 and cfg.server.max_queue == 2
    assert cfg.name == "from-file" and cfg.tags == ["a", "b"]
    again = tmp_path / "again.yaml"
    again.write_text(dump_config(cfg))
    assert load_config(ExampleConfig, again) == cfg


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["server.prot=1"], r"server\.prot: unknown key"),
        (["server.port=70000"], r"server\.port: Input should be less than or equal to 65535"),
        (["etcd.lease_ttl_s=0"], r"etcd\.lease_ttl_s"),
        (["server.max_queue=many"], r"server\.max_queue"),
        (["noequals"], "expected key=value"),
    ],
)
def test_bad_values_name_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(ExampleConfig, None, overrides)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(ExampleConfig, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(ExampleConfig, bad)
