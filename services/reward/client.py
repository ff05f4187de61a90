"""RewardClient: the one typed client of RewardService (controller, other teams' tools, tests).

Takes RewardSamples and returns RewardResults in the same order; errors are yatt.errors classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from yatt.errors import YattError
from yatt.protos import reward_pb2_grpc
from yatt.rpc.client import ServiceClient
from yatt.rpc.errors import domain_errors

from . import convert
from .plugins.base import RewardResult, RewardSample


class RewardClient(ServiceClient):
    def __init__(self, channel: grpc.aio.Channel, target: str = "") -> None:
        super().__init__(channel, target)
        self._stub = reward_pb2_grpc.RewardServiceStub(self.channel)

    async def score(
        self, samples: Sequence[RewardSample], *, timeout_s: float
    ) -> list[RewardResult]:
        """One result per sample, in the samples' order; a reply missing one is refused."""
        with domain_errors():
            reply = await self._stub.Score(convert.request_to_proto(samples), timeout=timeout_s)
        by_id = dict(convert.reply_from_proto(reply))
        missing = [s.id for s in samples if s.id not in by_id]
        if missing:
            raise YattError(f"reward service returned no score for {missing[:3]}")
        return [by_id[s.id] for s in samples]
