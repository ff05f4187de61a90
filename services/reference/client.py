"""ReferenceClient: the one typed client of ReferenceService (controller, tests).

Takes TokenSequences and returns their completion log-probs; errors are yatt.errors classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from yatt.protos import reference_pb2_grpc
from yatt.rpc.client import ServiceClient
from yatt.rpc.errors import domain_errors

from . import convert
from .core import SequenceLogProbs, TokenSequence


class ReferenceClient(ServiceClient):
    def __init__(self, channel: grpc.aio.Channel, target: str = "") -> None:
        super().__init__(channel, target)
        self._stub = reference_pb2_grpc.ReferenceServiceStub(self.channel)

    async def logprobs(
        self, sequences: Sequence[TokenSequence], *, timeout_s: float
    ) -> list[SequenceLogProbs]:
        """Log-probs of each sequence's tokens after its prompt, in the order the server sent."""
        with domain_errors():
            reply = await self._stub.LogProbs(
                convert.request_to_proto(sequences), timeout=timeout_s
            )
        return convert.reply_from_proto(reply)
