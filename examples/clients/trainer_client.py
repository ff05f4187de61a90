"""Call the trainer from your own pipeline: Status, GetWeights (stream the newest policy) and
PushExperience (a client stream: one header, then tensor chunks; idempotent by shard id).

    python examples/clients/trainer_client.py --target HOST:PORT status
    python examples/clients/trainer_client.py --target HOST:PORT weights
    python examples/clients/trainer_client.py --target HOST:PORT push --job demo --shard 0/100

Tensors follow the experience convention (README "call it from your pipeline"): token-aligned
[B, L] input_ids/attention_mask/loss_mask/old_logprobs/ref_logprobs/advantages, rewards [B].
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator

import grpc
import msgpack
import torch

from yatt.codec.tensor import TensorAssembler, iter_tensor_chunks
from yatt.protos import trainer_pb2, trainer_pb2_grpc

MAX_MESSAGE = 64 << 20


def channel(target: str) -> grpc.aio.Channel:
    options = [("grpc.max_receive_message_length", MAX_MESSAGE)]
    return grpc.aio.insecure_channel(target, options=options)


async def status(target: str) -> dict:
    async with channel(target) as ch:
        s = await trainer_pb2_grpc.TrainerServiceStub(ch).Status(
            trainer_pb2.TrainerStatusRequest(), timeout=30
        )
        return {
            "step": s.step,
            "weight_version": s.weight_version,
            "applied_shards": s.applied_shards,
            "last_metrics": msgpack.unpackb(s.last_metrics) if s.last_metrics else {},
        }


async def weights(target: str, min_version: int = 0) -> dict:
    """The newest weights (>= min_version) as name -> tensor; prints a summary."""
    assembler = TensorAssembler()
    tensors: dict[str, torch.Tensor] = {}
    version = -1
    async with channel(target) as ch:
        stub = trainer_pb2_grpc.TrainerServiceStub(ch)
        async for chunk in stub.GetWeights(
            trainer_pb2.GetWeightsRequest(min_version=min_version), timeout=120
        ):
            version = chunk.version
            done = assembler.feed(chunk.tensor)
            if done is not None:
                tensors[done[0]] = done[1]
    return {
        "version": version,
        "tensors": len(tensors),
        "parameters": sum(t.numel() for t in tensors.values()),
    }


def toy_experience(batch: int = 2, prompt: int = 3, completion: int = 4) -> dict[str, torch.Tensor]:
    """A right-padded batch in the experience convention (your pipeline fills in real values)."""
    length = prompt + completion
    ids = torch.randint(5, 20, (batch, length), generator=torch.Generator().manual_seed(0))
    loss_mask = torch.zeros(batch, length)
    loss_mask[:, prompt:] = 1.0
    rewards = torch.tensor([1.0, 0.0])[:batch]
    advantages = (rewards - rewards.mean())[:, None] * loss_mask
    return {
        "input_ids": ids,
        "attention_mask": torch.ones(batch, length, dtype=torch.int64),
        "loss_mask": loss_mask,
        "old_logprobs": -2.0 * loss_mask,
        "ref_logprobs": -2.0 * loss_mask,
        "advantages": advantages,
        "rewards": rewards,
    }


async def push(target: str, job: str, shard_id: str) -> dict:
    current = await status(target)
    tensors = toy_experience()
    header = trainer_pb2.ExperienceHeader(
        job=job,
        shard_id=shard_id,  # "<epoch>/<idx>": a second push of the same id is ALREADY_EXISTS
        epoch=int(shard_id.split("/")[0]),
        policy_version=current["weight_version"],  # the version that sampled these tokens
        num_samples=tensors["input_ids"].shape[0],
        metadata=msgpack.packb({"source": "examples/clients/trainer_client.py"}),
    )

    async def stream() -> AsyncIterator[trainer_pb2.ExperienceChunk]:
        yield trainer_pb2.ExperienceChunk(header=header)
        for name, tensor in tensors.items():
            for piece in iter_tensor_chunks(name, tensor):
                yield trainer_pb2.ExperienceChunk(tensor=piece)

    async with channel(target) as ch:
        reply = await trainer_pb2_grpc.TrainerServiceStub(ch).PushExperience(stream(), timeout=120)
    return {
        "stepped": reply.stepped,
        "step": reply.step,
        "weight_version": reply.weight_version,
        "pending_samples": reply.pending_samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port of the trainer")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status")
    w = sub.add_parser("weights")
    w.add_argument("--min-version", type=int, default=0)
    p = sub.add_parser("push")
    p.add_argument("--job", required=True)
    p.add_argument("--shard", default="0/100", help="shard id <epoch>/<idx>")
    args = parser.parse_args()
    if args.command == "status":
        result = asyncio.run(status(args.target))
    elif args.command == "weights":
        result = asyncio.run(weights(args.target, args.min_version))
    else:
        result = asyncio.run(push(args.target, args.job, args.shard))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
