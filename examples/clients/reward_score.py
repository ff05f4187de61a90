"""Call a reward service from your own pipeline: Score a batch of (prompt, completion, metadata)
and get one total plus named components per sample. Metadata travels as a msgpack map.

    python examples/clients/reward_score.py --target HOST:PORT
"""

from __future__ import annotations

import argparse
import asyncio
import json

import grpc
import msgpack

from yatt.protos import reward_pb2, reward_pb2_grpc


async def score(target: str, samples: list[tuple[str, str, str]]) -> list[dict]:
    """samples: (prompt, completion, reference answer)."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub = reward_pb2_grpc.RewardServiceStub(channel)
        request = reward_pb2.ScoreRequest(
            samples=[
                reward_pb2.ScoreSample(
                    id=f"s{i}",
                    prompt=prompt,
                    completion=completion,
                    metadata=msgpack.packb({"answer": answer}),
                )
                for i, (prompt, completion, answer) in enumerate(samples)
            ]
        )
        reply = await stub.Score(request, timeout=30)
        return [
            {"id": s.id, "total": s.total, "components": dict(s.components)} for s in reply.scores
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port of a reward service")
    args = parser.parse_args()
    batch = [("3+4=", "7", "7"), ("3+4=", "8", "7")]  # one right, one wrong
    for result in asyncio.run(score(args.target, batch)):
        print(json.dumps(result))


if __name__ == "__main__":
    main()
