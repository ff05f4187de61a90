"""The error edge holds: domain errors <-> status codes in one table, and no module above the
RPC layer compares grpc.StatusCode (only the edges may: the RPC runtime, the error table,
security, the per-service server.py / client.py and the test harness)."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest

from yatt.errors import (
    AlreadyExists,
    ConfigError,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
    YattError,
    error_for,
    status_for,
)

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("yatt", "services", "controller", "placement", "bench", "examples")
ALLOWED = re.compile(
    r"^(yatt/rpc/.*|yatt/errors\.py|yatt/security/.*|yatt/testing/.*"
    r"|services/[a-z_]+/(server|client)\.py|placement/(server|client)\.py"
    r"|examples/external_reward_server\.py)$"
)  # the example is another team's server: it speaks gRPC directly on purpose


def test_no_status_code_above_the_rpc_layer() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for top in SOURCES
        for path in sorted((REPO / top).rglob("*.py"))
        if "StatusCode" in path.read_text()
        and not ALLOWED.match(str(path.relative_to(REPO)))
        and not path.name.endswith(("_pb2.py", "_pb2_grpc.py"))
    ]
    assert offenders == [], f"grpc.StatusCode used above the RPC layer in {offenders}"


@pytest.mark.parametrize(
    "cls",
    [InvalidArgument, ResourceExhausted, AlreadyExists, FailedPrecondition, Unavailable,
     DeadlineExceeded],
)  # fmt: skip
def test_status_and_back_gives_the_same_class_and_message(cls: type[YattError]) -> None:
    code, message = status_for(cls("shard 0/1: why"))
    back = error_for(code, message)
    assert type(back) is cls and str(back) == "shard 0/1: why" == back.details


def test_config_error_comes_back_as_invalid_argument_and_unlisted_codes_keep_theirs() -> None:
    assert type(error_for(*status_for(ConfigError("x: bad")))) is InvalidArgument
    internal = error_for(*status_for(RuntimeError("secret")))
    assert type(internal) is YattError and internal.code == grpc.StatusCode.INTERNAL
    assert "secret" not in str(internal)
    data_loss = error_for(grpc.StatusCode.DATA_LOSS, "lost")
    assert data_loss.code == grpc.StatusCode.DATA_LOSS and "lost" in str(data_loss)
