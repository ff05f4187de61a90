"""Bearer-token authentication: a server interceptor that checks it, a client one that sends it.

Health Check stays open (orchestrator probes carry no token); every other method, Health's
Watch and List and reflection included, answers UNAUTHENTICATED with one fixed message unless
the token matches (an open Watch would let anyone hold a stream for ever).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc

AUTH_HEADER = "authorization"
# Probes reach these without a token; they reveal only SERVING / NOT_SERVING.
OPEN_PREFIXES = ("/grpc.health.v1.Health/Check",)
# The same words for a missing, malformed or wrong token: a caller learns nothing more.
DENIED = "missing or invalid credentials"


async def _deny_unary(_request: Any, context: grpc.aio.ServicerContext) -> Any:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, DENIED)


async def _deny_stream(_request: Any, context: grpc.aio.ServicerContext) -> Any:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, DENIED)
    yield  # pragma: no cover - makes this an async generator, as a streaming handler must be


def _denial_like(handler: grpc.RpcMethodHandler | None) -> grpc.RpcMethodHandler:
    """A handler of the same streaming kind as handler that aborts before reading requests."""
    if handler is not None and handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(_deny_stream)
    if handler is not None and handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(_deny_unary)
    if handler is not None and handler.stream_stream:
        return grpc.stream_stream_rpc_method_handler(_deny_stream)
    return grpc.unary_unary_rpc_method_handler(_deny_unary)


def token_matches(presented: str, accepted: Sequence[bytes]) -> bool:
    """Constant-time against every accepted token (no early exit reveals which one is close)."""
    candidate = presented.encode()
    ok = False
    for token in accepted:
        ok |= hmac.compare_digest(candidate, token)
    return ok


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    """Admits an RPC only with `authorization: Bearer <token>` for one of the accepted tokens."""

    def __init__(self, tokens: Sequence[str], open_prefixes: Sequence[str] = OPEN_PREFIXES) -> None:
        if not tokens:
            raise ValueError("TokenAuthInterceptor needs at least one token")
        self._tokens = [t.encode() for t in tokens]
        self._open = tuple(open_prefixes)

    def _authorized(self, metadata: Sequence[tuple[str, Any]] | None) -> bool:
        for key, value in metadata or ():
            if key == AUTH_HEADER and isinstance(value, str):
                scheme, _, token = value.partition(" ")
                return scheme.lower() == "bearer" and token_matches(token.strip(), self._tokens)
        return False

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        if details.method.startswith(self._open) or self._authorized(details.invocation_metadata):
            return await continuation(details)
        # Unknown methods are denied too (not UNIMPLEMENTED), so probing reveals no method names.
        return _denial_like(await continuation(details))


def _with_metadata(details: grpc.aio.ClientCallDetails, extra: tuple[str, str]) -> Any:
    metadata = grpc.aio.Metadata(*tuple(details.metadata or ()))
    metadata.add(*extra)
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


class _Bearer:
    def __init__(self, token: str) -> None:
        self._header = (AUTH_HEADER, f"Bearer {token}")


class _BearerUnaryUnary(_Bearer, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return await continuation(_with_metadata(details, self._header), request)


class _BearerUnaryStream(_Bearer, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return await continuation(_with_metadata(details, self._header), request)


class _BearerStreamUnary(_Bearer, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, details, request_iterator):  # type: ignore[no-untyped-def]
        return await continuation(_with_metadata(details, self._header), request_iterator)


class _BearerStreamStream(_Bearer, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, details, request_iterator):  # type: ignore[no-untyped-def]
        return await continuation(_with_metadata(details, self._header), request_iterator)


def bearer_interceptors(token: str) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors adding `authorization: Bearer <token>` to every call of a channel.

    For plaintext channels, where grpc refuses call credentials: the token then crosses the
    network readable by anyone on the path, so use it only on loopback or a trusted link.
    One object per call kind: grpc.aio files an interceptor under the first kind it matches.
    """
    kinds = (_BearerUnaryUnary, _BearerUnaryStream, _BearerStreamUnary, _BearerStreamStream)
    return [kind(token) for kind in kinds]
