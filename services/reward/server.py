"""The RewardService servicer: protobuf in, RewardCore.score, protobuf out.

Errors are domain exceptions; the shared interceptor maps them to status codes.
"""

from __future__ import annotations

import grpc

from yatt.protos import reward_pb2, reward_pb2_grpc

from . import convert
from .core import RewardCore


class RewardServicer(reward_pb2_grpc.RewardServiceServicer):
    def __init__(self, core: RewardCore) -> None:
        self.core = core

    async def Score(  # noqa: N802 - the RPC's name
        self, request: reward_pb2.ScoreRequest, context: grpc.aio.ServicerContext
    ) -> reward_pb2.ScoreReply:
        samples = convert.request_from_proto(request)
        results = await self.core.score(samples)
        return convert.reply_to_proto(samples, results)
