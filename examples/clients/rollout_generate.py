"""Call a rollout service from your own pipeline: Generate streams completions with the policy
version and per-token log-probs. Needs only grpcio and the generated protos (yatt.protos).

    python examples/clients/rollout_generate.py --target HOST:PORT --prompt "3+4=" -n 2
"""

from __future__ import annotations

import argparse
import asyncio
import json

import grpc

from yatt.protos import common_pb2, rollout_pb2, rollout_pb2_grpc


async def generate(target: str, prompts: list[str], n: int, max_new_tokens: int) -> list[dict]:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = rollout_pb2_grpc.RolloutServiceStub(channel)
        request = rollout_pb2.GenerateRequest(
            prompts=[common_pb2.Prompt(id=f"p{i}", text=t) for i, t in enumerate(prompts)],
            params=rollout_pb2.SamplingParams(
                n=n, max_new_tokens=max_new_tokens, temperature=1.0, top_p=1.0, seed=0
            ),
        )
        out = []
        async for c in stub.Generate(request, timeout=60):  # one message per completion
            out.append(
                {
                    "prompt_id": c.prompt_id,
                    "index": c.index,
                    "text": c.text,
                    "tokens": len(c.token_ids),
                    "logprob_sum": sum(c.logprobs),
                    "policy_version": c.policy_version,
                }
            )
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port of a rollout service")
    parser.add_argument("--prompt", action="append", default=None, help="repeatable")
    parser.add_argument("-n", type=int, default=2, help="completions per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    args = parser.parse_args()
    prompts = args.prompt or ["3+4=", "2+2="]
    for completion in asyncio.run(generate(args.target, prompts, args.n, args.max_new_tokens)):
        print(json.dumps(completion))


if __name__ == "__main__":
    main()
