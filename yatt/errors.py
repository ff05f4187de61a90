"""Domain errors that every service raises, and the one table mapping them to gRPC status codes.

Servicers and core logic raise these; yatt.rpc.interceptor turns them into statuses,
so no handler carries its own try/except.
"""

from __future__ import annotations

import grpc


class YattError(Exception):
    """Base class: an error with a gRPC status code and a message safe to show the caller."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidArgument(YattError, ValueError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class ResourceExhausted(YattError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class AlreadyExists(YattError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(YattError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class NotFound(YattError):
    code = grpc.StatusCode.NOT_FOUND


class Unavailable(YattError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(YattError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class ConfigError(YattError, ValueError):
    """A config value is wrong; the message names the key."""

    code = grpc.StatusCode.INVALID_ARGUMENT


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status and message a caller sees for an exception raised by a handler."""
    if isinstance(exc, YattError):
        return exc.code, str(exc)
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}"
