"""The TrainerService servicer: protobuf in -> runner/publisher call -> protobuf out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from yatt.errors import FailedPrecondition, InvalidArgument
from yatt.protos import common_pb2, trainer_pb2, trainer_pb2_grpc
from yatt.services.trainer import convert
from yatt.services.trainer.runner import TrainerRunner
from yatt.services.trainer.weights import WeightPublisher
from yatt.transport.grpc import requested_chunk_bytes

SERVICE = "yatt.v1.TrainerService"


class TrainerServicer(trainer_pb2_grpc.TrainerServiceServicer):
    """runner may be None for a weights-only server (the weight-sync benchmark)."""

    def __init__(
        self,
        runner: TrainerRunner | None,
        publisher: WeightPublisher,
        chunk_bytes: int,
        max_experience_bytes: int,
    ) -> None:
        self.runner = runner
        self.publisher = publisher
        self.chunk_bytes = chunk_bytes
        self.max_experience_bytes = max_experience_bytes

    def _runner(self) -> TrainerRunner:
        if self.runner is None:
            raise FailedPrecondition("this server only serves weights")
        return self.runner

    async def PushExperience(
        self,
        request_iterator: AsyncIterator[trainer_pb2.ExperienceChunk],
        context: grpc.aio.ServicerContext,
    ) -> trainer_pb2.PushReply:
        exp = await convert.experience_from_stream(request_iterator, self.max_experience_bytes)
        return convert.push_reply(await self._runner().push(exp))

    async def GetWeights(
        self, request: trainer_pb2.GetWeightsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[common_pb2.WeightChunk]:
        current = self.publisher.current_version()
        if request.min_version > current + 1:
            # Waiting for the next version is what a rollout does; further ahead, the call would
            # hold its admission slot until the server's time limit for nothing.
            raise InvalidArgument(
                f"min_version {request.min_version} is more than one ahead of the trainer's "
                f"version {current}"
            )
        snapshot = await self.publisher.get(request.min_version)
        chunk_bytes = requested_chunk_bytes(request.chunk_bytes, self.chunk_bytes)
        for chunk in convert.weight_chunks(snapshot, chunk_bytes):
            yield chunk

    async def Checkpoint(
        self, request: trainer_pb2.CheckpointRequest, context: grpc.aio.ServicerContext
    ) -> trainer_pb2.CheckpointReply:
        return convert.checkpoint_reply(await self._runner().checkpoint(request.tag))

    async def Status(
        self, request: trainer_pb2.TrainerStatusRequest, context: grpc.aio.ServicerContext
    ) -> trainer_pb2.TrainerStatus:
        return convert.status_to_proto(self._runner().state())
