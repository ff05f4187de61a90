"""Typed configs loaded from YAML with --set overrides, validated in one place."""

from yatt.config.loader import (
    ConfigModel,
    dump_config,
    format_overrides,
    load_config,
    parse_overrides,
)

__all__ = ["ConfigModel", "dump_config", "format_overrides", "load_config", "parse_overrides"]
