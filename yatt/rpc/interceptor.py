"""Wraps every service handler with admission and the one exception -> status mapping.

Health checks and reflection bypass admission so probes answer even when the queue is full.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from yatt.errors import YattError, status_for
from yatt.rpc.admission import AdmissionGate

log = logging.getLogger(__name__)

UNGATED_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


async def _abort(context: grpc.aio.ServicerContext, exc: BaseException, method: str) -> None:
    code, message = status_for(exc)
    if not isinstance(exc, YattError):
        log.exception("unhandled error in %s", method, exc_info=exc)
    await context.abort(code, message)


def _wrap_unary(behavior: Callable, gate: AdmissionGate, method: str) -> Callable:
    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            async with gate.admit():
                return await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc, method)

    return handler


def _wrap_stream(behavior: Callable, gate: AdmissionGate, method: str) -> Callable:
    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            async with gate.admit():
                async for item in behavior(request, context):
                    yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc, method)

    return handler


class AdmissionInterceptor(grpc.aio.ServerInterceptor):
    """Admits each RPC through the gate and maps domain errors to status codes."""

    def __init__(self, gate: AdmissionGate) -> None:
        self._gate = gate

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method
        if handler is None or method.startswith(UNGATED_PREFIXES):
            return handler
        kwargs = dict(
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary, self._gate, method), **kwargs
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                _wrap_unary(handler.stream_unary, self._gate, method), **kwargs
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream, self._gate, method), **kwargs
            )
        return grpc.stream_stream_rpc_method_handler(
            _wrap_stream(handler.stream_stream, self._gate, method), **kwargs
        )
