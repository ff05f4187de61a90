"""Reference protobuf <-> domain objects, both ways (servers use one side, clients the other)."""

from __future__ import annotations

from collections.abc import Sequence

from yatt.protos import reference_pb2

from .core import SequenceLogProbs, TokenSequence


def request_from_proto(msg: reference_pb2.LogProbsRequest) -> list[TokenSequence]:
    return [TokenSequence(s.id, tuple(s.token_ids), s.prompt_len) for s in msg.sequences]


def request_to_proto(seqs: Sequence[TokenSequence]) -> reference_pb2.LogProbsRequest:
    return reference_pb2.LogProbsRequest(
        sequences=[
            reference_pb2.TokenSequence(
                id=s.id, token_ids=list(s.token_ids), prompt_len=s.prompt_len
            )
            for s in seqs
        ]
    )


def reply_to_proto(results: Sequence[SequenceLogProbs]) -> reference_pb2.LogProbsReply:
    return reference_pb2.LogProbsReply(
        sequences=[reference_pb2.SequenceLogProbs(id=r.id, logprobs=r.logprobs) for r in results]
    )


def reply_from_proto(msg: reference_pb2.LogProbsReply) -> list[SequenceLogProbs]:
    return [SequenceLogProbs(s.id, list(s.logprobs)) for s in msg.sequences]
