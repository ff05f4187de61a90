"""A reward model hosted by another team as its own RewardService, with plain grpcio.

It uses nothing of yatt but the generated protos (yatt.protos.reward_pb2*, or the same
code generated from protos/reward.proto), so it shows everything an external endpoint needs.

Run it:

    python examples/external_reward_server.py --port 50070                 # rule scorer
    python examples/external_reward_server.py --port 50070 --model RM_DIR  # HF reward model

The contract (protos/reward.proto):
  * Score(ScoreRequest) -> ScoreReply, one SampleScore per sample, in order, with the
    sample's id, `total`, named `components` (floats) and optional msgpack `details`.
  * `metadata` and `details` are msgpack maps. Refuse what you cannot score with
    INVALID_ARGUMENT (empty batch, bad metadata, a missing key) and keep serving; answer
    RESOURCE_EXHAUSTED when overloaded so callers retry later or elsewhere.
  * Serve grpc.health.v1 so probes and launchers see when the model is loaded.
  * Keep model compute off the event loop (here: asyncio.to_thread).

Joining a job: a job's controllers find reward endpoints under the job's `reward` role in
etcd. With --etcd HOST:PORT --job JOB this server does what a yatt service does: it grants a
lease of --ttl seconds, puts

    /yatt/jobs/<JOB>/members/reward/<INSTANCE>  (yatt.keys.member(job, "reward", instance))

with a msgpack map {"endpoint": "host:port", "role": "reward", "instance": ..., "slot": None,
"pid": ...} bound to that lease, refreshes the lease every ttl/3 seconds, and revokes it on
SIGTERM, so the key vanishes when the process stops or dies. A `yatt register` command for
servers that do not want to talk to etcd themselves is planned.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
from typing import Any

import grpc
import msgpack
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from yatt.protos import reward_pb2, reward_pb2_grpc

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class BadRequest(ValueError):
    """A request this server cannot score: answered INVALID_ARGUMENT."""


def decode_metadata(raw: bytes, where: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise BadRequest(f"{where}.metadata is not msgpack: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest(f"{where}.metadata must be a msgpack map")
    return value


class RuleScorer:
    """Without a model: 1 if the last word is metadata["answer"], minus 0.01 per word."""

    def __call__(self, samples: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, float]]:
        out = []
        for i, (_, completion, meta) in enumerate(samples):
            if "answer" not in meta:
                raise BadRequest(f"samples.{i}.metadata: missing 'answer'")
            words = completion.split()
            last = words[-1].strip(".,!?$") if words else ""
            out.append(
                {"correct": float(last == str(meta["answer"])), "brevity": -0.01 * len(words)}
            )
        return out


class ModelScorer:
    """A Hugging Face sequence-classification reward model from a local directory."""

    def __init__(self, path: str, batch_size: int = 16) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.model = AutoModelForSequenceClassification.from_pretrained(
            path, local_files_only=True
        ).eval()
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tok.pad_token_id
        self.batch_size = batch_size

    def __call__(self, samples: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, float]]:
        texts = [prompt + completion for prompt, completion, _ in samples]
        out: list[dict[str, float]] = []
        with self.torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                enc = self.tok(texts[i : i + self.batch_size], return_tensors="pt", padding=True)
                logits = self.model(**enc).logits[:, 0]
                out.extend({"rm": float(v)} for v in logits)
        return out


class ExternalRewardServicer(reward_pb2_grpc.RewardServiceServicer):
    def __init__(self, scorer: RuleScorer | ModelScorer) -> None:
        self.scorer = scorer
        # One batch at a time through the model; other RPCs wait here, not in the model.
        self.lock = asyncio.Lock()

    async def Score(  # noqa: N802 - the RPC's name
        self, request: reward_pb2.ScoreRequest, context: grpc.aio.ServicerContext
    ) -> reward_pb2.ScoreReply:
        try:
            if not request.samples:
                raise BadRequest("samples: empty batch")
            samples = [
                (s.prompt, s.completion, decode_metadata(s.metadata, f"samples.{i}"))
                for i, s in enumerate(request.samples)
            ]
            async with self.lock:
                parts = await asyncio.to_thread(self.scorer, samples)
        except BadRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return reward_pb2.ScoreReply(
            scores=[
                reward_pb2.SampleScore(id=s.id, total=sum(c.values()), components=c)
                for s, c in zip(request.samples, parts, strict=True)
            ]
        )


class EtcdRegistration:
    """The member key under the job's reward role, bound to a lease kept alive here."""

    def __init__(self, etcd: str, job: str, instance: str, endpoint: str, ttl: int) -> None:
        import aetcd

        host, _, port = etcd.rpartition(":")
        self.client = aetcd.Client(host=host, port=int(port), timeout=5)
        self.key = f"/yatt/jobs/{job}/members/reward/{instance}".encode()
        self.value = msgpack.packb(
            {"endpoint": endpoint, "role": "reward", "instance": instance, "slot": None,
             "pid": os.getpid()}, use_bin_type=True,
        )  # fmt: skip
        self.ttl = ttl
        self.lease: Any = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.lease = await self.client.lease(self.ttl)
        await self.client.put(self.key, self.value, lease=self.lease)
        self.task = asyncio.create_task(self._keepalive())

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self.lease.refresh()
            except Exception as exc:  # etcd away: the key lapses; a real server re-puts
                print(f"lease refresh failed: {exc}", flush=True)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        with contextlib.suppress(Exception):
            await self.lease.revoke()
        await self.client.close()


async def main(args: argparse.Namespace) -> None:
    scorer = ModelScorer(args.model) if args.model else RuleScorer()
    limits = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]
    server = grpc.aio.server(options=limits)
    reward_pb2_grpc.add_RewardServiceServicer_to_server(ExternalRewardServicer(scorer), server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_insecure_port(f"{args.host}:{args.port}")
    await server.start()
    for service in ("", "yatt.v1.RewardService"):
        await health.set(service, health_pb2.HealthCheckResponse.SERVING)
    endpoint = f"{args.advertise_host or args.host}:{port}"
    registration = None
    if args.etcd and args.job:
        instance = args.instance or f"external-{socket.gethostname()}-{os.getpid()}"
        registration = EtcdRegistration(args.etcd, args.job, instance, endpoint, args.ttl)
        await registration.start()
    print(f"external reward server serving on {endpoint}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # Leave the job first so no new work is routed here, then finish what is in flight.
    if registration is not None:
        await registration.stop()
    for service in ("", "yatt.v1.RewardService"):
        await health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
    await server.stop(grace=10)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="Address to bind.")
    parser.add_argument("--port", type=int, default=0, help="Port to bind (0: a free one).")
    parser.add_argument("--advertise-host", default=None, help="Host others use to reach it.")
    parser.add_argument("--model", default=None, help="Local HF sequence-classification dir.")
    parser.add_argument("--etcd", default=None, help="host:port of the job's etcd.")
    parser.add_argument("--job", default=None, help="Job whose reward role to join.")
    parser.add_argument("--instance", default=None, help="Instance name under the role.")
    parser.add_argument("--ttl", type=int, default=5, help="Lease TTL in seconds.")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
