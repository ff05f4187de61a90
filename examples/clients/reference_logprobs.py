"""Call a reference service from your own pipeline: LogProbs returns, per sequence, the frozen
model's log-probability of each token after prompt_len (the completion), e.g. for a KL term.

    python examples/clients/reference_logprobs.py --target HOST:PORT --token-ids 5,6,7,8 --prompt-len 2
"""

from __future__ import annotations

import argparse
import asyncio
import json

import grpc

from yatt.protos import reference_pb2, reference_pb2_grpc


async def logprobs(target: str, token_ids: list[int], prompt_len: int) -> list[float]:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = reference_pb2_grpc.ReferenceServiceStub(channel)
        request = reference_pb2.LogProbsRequest(
            sequences=[
                reference_pb2.TokenSequence(id="seq0", token_ids=token_ids, prompt_len=prompt_len)
            ]
        )
        reply = await stub.LogProbs(request, timeout=30)
        return list(reply.sequences[0].logprobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port of a reference service")
    parser.add_argument("--token-ids", default="5,6,7,8,9", help="comma-separated token ids")
    parser.add_argument("--prompt-len", type=int, default=2)
    args = parser.parse_args()
    ids = [int(x) for x in args.token_ids.split(",")]
    values = asyncio.run(logprobs(args.target, ids, args.prompt_len))
    print(json.dumps({"completion_tokens": len(values), "logprobs": values}))


if __name__ == "__main__":
    main()
