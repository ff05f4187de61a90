"""Domain errors that every service raises, and the one table between them and gRPC status codes.

Servers raise these and yatt.rpc.interceptor turns them into statuses; clients turn a status back
into the same class (yatt.rpc.errors), so no code above the RPC layer looks at a status code.
"""

from __future__ import annotations

import grpc


class YattError(Exception):
    """Base class: an error with a gRPC status code and a message safe to show the caller."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    @property
    def details(self) -> str:
        """The message as the other side sent it (or will see it)."""
        return str(self)


class InvalidArgument(YattError, ValueError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class ResourceExhausted(YattError):
    """The server's queue is full (or a quota is spent): another instance may take the call."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class AlreadyExists(YattError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(YattError):
    """The call cannot apply in the callee's current state (e.g. a stale weight version)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class NotFound(YattError):
    code = grpc.StatusCode.NOT_FOUND


class Unavailable(YattError):
    """The callee is down or draining: retrying elsewhere is safe."""

    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(YattError):
    """The call did not finish in time; the callee may still have acted on it."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(YattError):
    code = grpc.StatusCode.CANCELLED


class Unknown(YattError):
    """The callee failed without saying how (e.g. a handler outside yatt's interceptor)."""

    code = grpc.StatusCode.UNKNOWN


class Unimplemented(YattError):
    """The callee does not offer this method (an older or different server)."""

    code = grpc.StatusCode.UNIMPLEMENTED


class Unauthenticated(YattError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(YattError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ConfigError(YattError, ValueError):
    """A config value is wrong; the message names the key."""

    code = grpc.StatusCode.INVALID_ARGUMENT


# Status -> class on the client side. ConfigError shares INVALID_ARGUMENT and comes back as
# InvalidArgument; a status not listed comes back as YattError with the status kept.
_BY_CODE: dict[grpc.StatusCode, type[YattError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        ResourceExhausted,
        AlreadyExists,
        FailedPrecondition,
        NotFound,
        Unavailable,
        DeadlineExceeded,
        Cancelled,
        Unknown,
        Unimplemented,
        Unauthenticated,
        PermissionDenied,
    )
}

# A call that failed with one of these may be sent to another instance of the same role.
RETRYABLE: tuple[type[YattError], ...] = (Unavailable, DeadlineExceeded, ResourceExhausted)


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status and message a caller sees for an exception raised by a handler."""
    if isinstance(exc, YattError):
        return exc.code, str(exc)
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}"


def error_for(code: grpc.StatusCode, details: str) -> YattError:
    """The domain error a caller raises for a status it received (details kept as message)."""
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls(details)
    error = YattError(f"{code.name}: {details}")
    error.code = code
    return error
