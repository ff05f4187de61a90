"""The client side of the error edge: a failed call raises the domain error its status stands for.

Every typed client wraps its calls in `domain_errors` (or `domain_stream` for server streams),
so callers catch yatt.errors classes and never look at grpc.StatusCode.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager
from typing import TypeVar

import grpc

from yatt.errors import YattError, error_for

T = TypeVar("T")


def from_rpc_error(exc: grpc.RpcError) -> YattError:
    """The domain error for a failed call, with the server's details as its message."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    return error_for(code, details or "")


@contextmanager
def domain_errors() -> Iterator[None]:
    """Re-raises a grpc.RpcError from the block as its domain error."""
    try:
        yield
    except grpc.RpcError as exc:
        raise from_rpc_error(exc) from exc


async def domain_stream(stream: AsyncIterable[T]) -> AsyncIterator[T]:
    """The items of a server stream; a status ending it is raised as its domain error."""
    with domain_errors():
        async for item in stream:
            yield item
