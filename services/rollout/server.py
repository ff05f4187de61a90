"""The RolloutService servicer: protobuf in, RolloutCore call, protobuf out.

Errors are domain exceptions; the shared interceptor maps them to status codes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from yatt.protos import common_pb2, rollout_pb2, rollout_pb2_grpc

from . import convert
from .core import RolloutCore


class RolloutServicer(rollout_pb2_grpc.RolloutServiceServicer):
    def __init__(self, core: RolloutCore) -> None:
        self.core = core

    async def Generate(  # noqa: N802 - the RPC's name
        self, request: rollout_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[rollout_pb2.Completion]:
        async for completion in self.core.generate(convert.request_from_proto(request)):
            yield convert.completion_to_proto(completion)

    async def LoadWeights(  # noqa: N802
        self,
        request_iterator: AsyncIterator[common_pb2.WeightChunk],
        context: grpc.aio.ServicerContext,
    ) -> rollout_pb2.LoadWeightsReply:
        stage = self.core.stage_weights()
        async for version, count, name, tensor in convert.weights_from_chunks(
            request_iterator, self.core.spec
        ):
            stage.add(version, count, name, tensor)
        return convert.load_result_to_proto(await self.core.commit_weights(stage))

    async def LoadWeightsFromManifest(  # noqa: N802
        self, request: common_pb2.WeightManifest, context: grpc.aio.ServicerContext
    ) -> rollout_pb2.LoadWeightsReply:
        result = await self.core.load_from_manifest(convert.manifest_from_proto(request))
        return convert.load_result_to_proto(result)

    async def Info(  # noqa: N802
        self, request: rollout_pb2.InfoRequest, context: grpc.aio.ServicerContext
    ) -> rollout_pb2.RolloutInfo:
        return convert.info_to_proto(self.core.info())
