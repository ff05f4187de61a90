"""Wraps every service handler with admission, the one exception -> status mapping and the
RPC latency histogram (per method and final status, refusals by admission included).

Health checks and reflection bypass admission so probes answer even when the queue is full.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from yatt import metrics
from yatt.errors import YattError, status_for
from yatt.rpc.admission import AdmissionGate

log = logging.getLogger(__name__)

UNGATED_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


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


def _wrap_unary(behavior: Callable, gate: AdmissionGate, method: str) -> Callable:
    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        timer = _CallTimer(gate.name, method)
        try:
            async with gate.admit():
                return await behavior(request, context)
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


def _wrap_stream(behavior: Callable, gate: AdmissionGate, method: str) -> Callable:
    async def handler(request: Any, context: grpc.aio.ServicerContext) -> Any:
        timer = _CallTimer(gate.name, method)
        try:
            async with gate.admit():
                async for item in behavior(request, context):
                    yield item
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
