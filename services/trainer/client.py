"""TrainerClient: the one typed client of TrainerService (controller, `yatt up`'s report, tests).

Takes and returns the trainer's domain objects; a failed call raises its yatt.errors class
(AlreadyExists: the shard was taken before; FailedPrecondition: sampled with too old weights).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import grpc
import torch

from yatt.defaults import CHUNK_BYTES
from yatt.protos import trainer_pb2, trainer_pb2_grpc
from yatt.rpc.client import ServiceClient
from yatt.rpc.errors import domain_errors

from . import convert
from .core import CheckpointInfo, PushResult, TrainerState, WeightSnapshot
from .experience import ExperienceHeader


class TrainerClient(ServiceClient):
    def __init__(self, channel: grpc.aio.Channel, target: str = "") -> None:
        super().__init__(channel, target)
        self._stub = trainer_pb2_grpc.TrainerServiceStub(self.channel)

    async def push_experience(
        self,
        header: ExperienceHeader,
        tensors: Mapping[str, torch.Tensor],
        *,
        timeout_s: float,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> PushResult:
        """One shard's experience: the header, then every tensor in chunks."""

        async def stream() -> AsyncIterator[trainer_pb2.ExperienceChunk]:
            for message in convert.experience_chunks(header, tensors, chunk_bytes):
                yield message
                await asyncio.sleep(0)  # a large shard must not hold the event loop

        with domain_errors():
            reply = await self._stub.PushExperience(stream(), timeout=timeout_s)
        return convert.push_result_from_proto(reply)

    async def get_weights(
        self, min_version: int = 0, *, timeout_s: float, chunk_bytes: int = 0
    ) -> WeightSnapshot:
        """The newest weights, once the trainer reached min_version (chunk_bytes 0: its default)."""
        request = trainer_pb2.GetWeightsRequest(min_version=min_version, chunk_bytes=chunk_bytes)
        with domain_errors():
            chunks = [c async for c in self._stub.GetWeights(request, timeout=timeout_s)]
        return convert.weights_from_chunks(chunks)

    async def checkpoint(self, tag: str = "", *, timeout_s: float) -> CheckpointInfo:
        with domain_errors():
            reply = await self._stub.Checkpoint(
                trainer_pb2.CheckpointRequest(tag=tag), timeout=timeout_s
            )
        return convert.checkpoint_from_proto(reply)

    async def status(self, *, timeout_s: float = 10.0) -> TrainerState:
        with domain_errors():
            reply = await self._stub.Status(trainer_pb2.TrainerStatusRequest(), timeout=timeout_s)
        return convert.status_from_proto(reply)
