"""RolloutClient: the one typed client of RolloutService (controller, trainer's pusher, judge, tests).

Takes and returns the rollout's domain objects; a failed call raises its yatt.errors class.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import grpc
import torch

from yatt.defaults import CHUNK_BYTES
from yatt.protos import rollout_pb2, rollout_pb2_grpc
from yatt.rpc.client import ServiceClient
from yatt.rpc.errors import domain_errors, domain_stream
from yatt.transport.base import Delivery
from yatt.transport.manifest import WeightManifest

from . import convert
from .core import Completion, GenerateRequest, RolloutInfo


class RolloutClient(ServiceClient):
    """Also the WeightLoader the weight transports deliver through."""

    def __init__(self, channel: grpc.aio.Channel, target: str = "") -> None:
        super().__init__(channel, target)
        self._stub = rollout_pb2_grpc.RolloutServiceStub(self.channel)

    async def generate(
        self, request: GenerateRequest, *, timeout_s: float
    ) -> AsyncIterator[Completion]:
        """Completions in the order the engine finishes them."""
        stream = self._stub.Generate(convert.request_to_proto(request), timeout=timeout_s)
        async for message in domain_stream(stream):
            yield convert.completion_from_proto(message)

    async def load_weights(
        self,
        weight_version: int,
        tensors: Mapping[str, torch.Tensor],
        *,
        timeout_s: float,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> Delivery:
        """A whole version streamed as WeightChunks (the grpc transport)."""
        chunks = convert.weight_chunks(tensors, weight_version, chunk_bytes)
        with domain_errors():
            reply = await self._stub.LoadWeights(chunks, timeout=timeout_s)
        return convert.load_result_from_proto(reply)

    async def load_weights_from_manifest(
        self, manifest: WeightManifest, *, timeout_s: float
    ) -> Delivery:
        """A version whose bytes travel another way (shm, nccl), named by its manifest."""
        message = convert.manifest_to_proto(manifest)
        with domain_errors():
            reply = await self._stub.LoadWeightsFromManifest(message, timeout=timeout_s)
        return convert.load_result_from_proto(reply)

    async def info(self, *, timeout_s: float = 10.0) -> RolloutInfo:
        with domain_errors():
            reply = await self._stub.Info(rollout_pb2.InfoRequest(), timeout=timeout_s)
        return convert.info_from_proto(reply)
