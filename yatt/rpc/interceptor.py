"""Wraps every service handler with admission, the one exception -> status mapping and the
RPC latency histogram (per method and final status, refusals by admission included).

Health Check and List and reflection bypass admission so probes answer even when the queue is
full; Health Watch, a stream that may last, is admitted like any RPC. Every admitted RPC runs under the server's own
time limit (`server.max_call_s`), whatever deadline the client sent, or none.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from yatt import metrics
from yatt.errors import DeadlineExceeded, YattError, status_for
from yatt.rpc.admission import AdmissionGate

log = logging.getLogger(__name__)

UNGATED_PREFIXES = (
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/List",
    "/grpc.reflection.",
)


async def _abort(context: grpc.aio.ServicerContext, exc: BaseException, method: str) -> None:
    code, message = status_for(exc)
    if not isinstance(exc, YattError):
        log.exception("unhandled error in %s", method, exc_info=exc)
    await context.abort(code, message)


class _CallTimer:
    """Observes one RPC's duration under the status code it ends with."""

    def __init__(self, service: str | None, method: str) -> None:
        self.service, self.method = service, method
        self.start = time.perf_counter()
        self.code: str | None = None

    def fail(self, exc: BaseException) -> None:
        self.code = status_for(exc)[0].name

    def done(self, context: grpc.aio.ServicerContext) -> None:
        if self.service is None:
            return
        code = self.code
        if code is None:
            # context.abort() by the servicer, or set_code() without raising.
            set_code = context.code()
            code = set_code.name if isinstance(set_code, grpc.StatusCode) else "OK"
        metrics.RPC_LATENCY.labels(self.service, self.method, code).observe(
            time.perf_counter() - self.start
        )


def _over_limit(method: str, limit_s: float) -> DeadlineExceeded:
    return DeadlineExceeded(
        f"{method} ran past the server's limit of {limit_s:g}s (server.max_call_s)"
    )


def _wrap_unary(
    behavior: Callable[..., Any], gate: AdmissionGate, method: str, limit_s: float
) -> Callable[..., Any]:
    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        timer = _CallTimer(gate.name, method)
        try:
            async with gate.admit():
                try:
                    async with asyncio.timeout(limit_s):
                        return await behavior(request, context)
                except TimeoutError:
                    raise _over_limit(method, limit_s) from None
        except grpc.aio.AbortError:
            raise
        except asyncio.CancelledError:
            timer.code = "CANCELLED"
            raise
        except Exception as exc:
            timer.fail(exc)
            await _abort(context, exc, method)
        finally:
            timer.done(context)

    return handler


def _wrap_stream(
    behavior: Callable[..., Any], gate: AdmissionGate, method: str, limit_s: float
) -> Callable[..., Any]:
    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        timer = _CallTimer(gate.name, method)
        try:
            async with gate.admit():
                try:
                    async with asyncio.timeout(limit_s):
                        async for item in behavior(request, context):
                            yield item
                except TimeoutError:
                    raise _over_limit(method, limit_s) from None
        except grpc.aio.AbortError:
            raise
        except (asyncio.CancelledError, GeneratorExit):
            timer.code = "CANCELLED"
            raise
        except Exception as exc:
            timer.fail(exc)
            await _abort(context, exc, method)
        finally:
            timer.done(context)

    return handler


class AdmissionInterceptor(grpc.aio.ServerInterceptor):
    """Admits each RPC through the gate and maps domain errors to status codes."""

    def __init__(self, gate: AdmissionGate, max_call_s: float) -> None:
        self._gate = gate
        self._limit_s = max_call_s

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
                _wrap_unary(handler.unary_unary, self._gate, method, self._limit_s), **kwargs
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                _wrap_unary(handler.stream_unary, self._gate, method, self._limit_s), **kwargs
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream, self._gate, method, self._limit_s), **kwargs
            )
        return grpc.stream_stream_rpc_method_handler(
            _wrap_stream(handler.stream_stream, self._gate, method, self._limit_s), **kwargs
        )
