"""Loads a pydantic config from YAML plus `--set key.sub=value` overrides.

Unknown keys and bad values are refused with a ConfigError naming the dotted key;
this is the only place configs are validated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from yatt.errors import ConfigError


class ConfigModel(BaseModel):
    """Base of every yatt config: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


C = TypeVar("C", bound=ConfigModel)


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """Turns ["a.b=1", "c=x"] into a nested dict; values are parsed as YAML scalars/lists."""
    tree: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML: {exc}") from exc
        node = tree
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {part} is already set to a value")
            node = child
        node[parts[-1]] = value
    return tree


def format_overrides(values: Mapping[str, object]) -> list[str]:
    """The `--set` items that set each key to its value (None: left out), values quoted.

    JSON is YAML, so parse_overrides reads back exactly the value given: `--job 007` stays
    the string "007" (unquoted, YAML would read the number 7).
    """
    return [f"{key}={json.dumps(value)}" for key, value in values.items() if value is not None]


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _describe(error: ValidationError) -> str:
    lines = []
    for err in error.errors():
        key = ".".join(str(p) for p in err["loc"]) or "<root>"
        if err["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key")
        else:
            lines.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
    return "; ".join(lines)


def load_config(
    cls: type[C],
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    data: dict[str, Any] | None = None,
) -> C:
    """Builds cls from a YAML file (or a dict) with overrides applied; raises ConfigError."""
    raw: dict[str, Any] = dict(data or {})
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path}: top level must be a mapping")
        raw = _merge(raw, loaded)
    raw = _merge(raw, parse_overrides(overrides or []))
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}{_describe(exc)}") from None


def dump_config(cfg: ConfigModel) -> str:
    """The resolved config as YAML, written into run directories and etcd."""
    text: str = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
    return text
