"""Record: a dataclass that travels as a msgpack map, checked field by field when decoded.

Unknown keys are ignored (a newer writer may add fields); a missing key takes the field's
default; a value of the wrong type is refused with ContractError naming the field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Any, ClassVar, Self

from yatt.codec.meta import pack, unpack_map
from yatt.errors import InvalidArgument


class ContractError(InvalidArgument):
    """A record read from etcd (or another process) does not match its type."""


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _check(value: Any, tp: Any, where: str) -> Any:
    """value as an instance of tp (ints widen to float, enums from their value), else raise."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(tp):
            return None
        for option in typing.get_args(tp):
            if option is type(None):
                continue
            try:
                return _check(value, option, where)
            except ContractError:
                continue
        raise ContractError(f"{where} must be {_name(tp)}, got {type(value).__name__}")
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ContractError(f"{where} must be a map, got {type(value).__name__}")
        key_tp, value_tp = typing.get_args(tp)
        return {
            _check(k, key_tp, f"{where} key"): _check(v, value_tp, f"{where}[{k!r}]")
            for k, v in value.items()
        }
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ContractError(f"{where} must be a list, got {type(value).__name__}")
        (item_tp,) = typing.get_args(tp)
        return [_check(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError:
            known = ", ".join(str(m.value) for m in tp)
            raise ContractError(f"{where} must be one of {known}, got {value!r}") from None
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, bool):
        raise ContractError(f"{where} must be int, got bool")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ContractError(f"{where} must be {_name(tp)}, got {type(value).__name__}")


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class Record:
    """Base of every record; subclasses are frozen keyword-only dataclasses with defaults."""

    what: ClassVar[str] = "record"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def encode(self) -> bytes:
        return pack(self.to_dict())

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], what: str | None = None) -> Self:
        where = what or cls.what
        hints = typing.get_type_hints(cls)
        values = {
            f.name: _check(raw[f.name], hints[f.name], f"{where}: field {f.name!r}")
            for f in dataclasses.fields(cls)
            if f.name in raw
        }
        return cls(**values)

    @classmethod
    def decode(cls, data: bytes, what: str | None = None) -> Self:
        """The record in data (msgpack map); ContractError if it is not one."""
        where = what or cls.what
        try:
            raw = unpack_map(data, what=where)
        except ContractError:
            raise
        except InvalidArgument as exc:
            raise ContractError(str(exc)) from None
        return cls.from_dict(raw, where)
