"""The ReferenceService servicer: protobuf in, ReferenceCore.logprobs, protobuf out.

Errors are domain exceptions; the shared interceptor maps them to status codes.
"""

from __future__ import annotations

import grpc

from yatt.protos import reference_pb2, reference_pb2_grpc

from . import convert
from .core import ReferenceCore


class ReferenceServicer(reference_pb2_grpc.ReferenceServiceServicer):
    def __init__(self, core: ReferenceCore) -> None:
        self.core = core

    async def LogProbs(  # noqa: N802 - the RPC's name
        self, request: reference_pb2.LogProbsRequest, context: grpc.aio.ServicerContext
    ) -> reference_pb2.LogProbsReply:
        results = await self.core.logprobs(convert.request_from_proto(request))
        return convert.reply_to_proto(results)
