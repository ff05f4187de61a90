"""DiagnosticsService: every server answers Echo, for `yatt ping` and codec/limit checks."""

from __future__ import annotations

import asyncio
import socket

import grpc

from yatt.codec.tensor import tensor_from_proto
from yatt.errors import InvalidArgument
from yatt.protos import diagnostics_pb2, diagnostics_pb2_grpc

# Echo holds its admission slot while it waits: a diagnostic never needs long.
MAX_HOLD_S = 10.0


class DiagnosticsServicer(diagnostics_pb2_grpc.DiagnosticsServiceServicer):
    def __init__(self, server_name: str) -> None:
        self._name = f"{server_name}@{socket.gethostname()}"

    async def Echo(
        self, request: diagnostics_pb2.EchoRequest, context: grpc.aio.ServicerContext
    ) -> diagnostics_pb2.EchoReply:
        if not 0 <= request.hold_s <= MAX_HOLD_S:  # NaN fails both comparisons
            raise InvalidArgument(f"hold_s must be in [0, {MAX_HOLD_S:g}], got {request.hold_s}")
        tensor = tensor_from_proto(request.tensor, what="tensor")
        if request.hold_s > 0:
            await asyncio.sleep(request.hold_s)
        total = float(tensor.double().sum()) if tensor.numel() else 0.0
        return diagnostics_pb2.EchoReply(
            dtype=request.tensor.dtype, shape=list(tensor.shape), sum=total, server=self._name
        )
