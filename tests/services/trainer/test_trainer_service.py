"""TrainerService over real gRPC on loopback (server in this process, real DeepSpeed): push
idempotency, staleness, bad input with state unchanged, GetWeights bit-exact, Checkpoint, Status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import torch
from trainer_helpers import deepspeed_modules, make_experience, trainer_config

from yatt.config.common import ServerConfig
from yatt.defaults import MIN_CHUNK_BYTES
from yatt.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from yatt.protos import trainer_pb2, trainer_pb2_grpc
from yatt.rpc.server import ServiceRuntime
from yatt.services.trainer.app import MAX_EXPERIENCE_BYTES, SERVICE, start_runner
from yatt.services.trainer.client import TrainerClient
from yatt.services.trainer.convert import experience_to_stream
from yatt.services.trainer.core import PushResult, TrainerState
from yatt.services.trainer.experience import Experience
from yatt.services.trainer.modules import policy_tensors
from yatt.services.trainer.runner import TrainerRunner
from yatt.services.trainer.server import TrainerServicer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class Client:
    """The trainer's own client, plus the raw stub for the malformed-stream test."""

    def __init__(self, channel: grpc.aio.Channel, runner: TrainerRunner) -> None:
        self.trainer = TrainerClient(channel)
        self.stub = trainer_pb2_grpc.TrainerServiceStub(channel)
        self.runner = runner

    async def push(self, exp: Experience, chunk_bytes: int = 97) -> PushResult:
        # Small chunks: every tensor arrives in several pieces.
        return await self.trainer.push_experience(
            exp.header, exp.tensors(), timeout_s=60, chunk_bytes=chunk_bytes
        )

    async def weights(self, min_version: int = 0, chunk_bytes: int = 0) -> dict[str, torch.Tensor]:
        snapshot = await self.trainer.get_weights(
            min_version, timeout_s=60, chunk_bytes=chunk_bytes
        )
        return snapshot.tensors

    async def status(self) -> TrainerState:
        return await self.trainer.status()


@pytest.fixture
async def client(model_dir: Path, tmp_path: Path) -> AsyncIterator[Client]:
    cfg = trainer_config(model_dir, tmp_path, checkpoint_every=0)
    runner = await start_runner(cfg)
    runtime = ServiceRuntime(ServerConfig(), "trainer")
    servicer = TrainerServicer(runner, runner.publisher, 1 << 12, MAX_EXPERIENCE_BYTES)
    runtime.add(trainer_pb2_grpc.add_TrainerServiceServicer_to_server, servicer, SERVICE)
    endpoint = await runtime.start()
    try:
        async with TrainerClient.connect(endpoint) as trainer:
            yield Client(trainer.channel, runner)
    finally:
        await runtime.stop(0)
        await runner.close()


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and torch.equal(a[name], b[name]), name


async def test_get_weights_is_bit_exact(client: Client) -> None:
    got = await client.weights(chunk_bytes=1000)
    lm = deepspeed_modules(client.runner.core).lm
    state = lm.state_dict()
    assert got.keys() == policy_tensors(lm).keys()
    for name, tensor in got.items():
        assert tensor.dtype == state[name].dtype and torch.equal(tensor, state[name]), name


async def test_get_weights_clamps_a_tiny_chunk_size(client: Client) -> None:
    """chunk_bytes=1 would be one message per byte: the server serves MIN_CHUNK_BYTES pieces."""
    request = trainer_pb2.GetWeightsRequest(chunk_bytes=1)
    chunks = [c async for c in client.stub.GetWeights(request, timeout=60)]
    total = sum(len(c.tensor.data) for c in chunks)
    assert len(chunks) <= total // MIN_CHUNK_BYTES + chunks[0].tensor_count
    # Every piece is MIN_CHUNK_BYTES long or ends its tensor.
    assert all(
        len(c.tensor.data) == MIN_CHUNK_BYTES
        or c.tensor.offset + len(c.tensor.data) == c.tensor.total_bytes
        for c in chunks
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        request.chunk_bytes = -5
        _ = [c async for c in client.stub.GetWeights(request, timeout=60)]
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_get_weights_refuses_a_min_version_beyond_the_next(client: Client) -> None:
    """A huge min_version used to wait for ever, holding an admission slot."""
    request = trainer_pb2.GetWeightsRequest(min_version=2**62)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        _ = [c async for c in client.stub.GetWeights(request, timeout=10)]
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "more than one ahead" in err.value.details()


async def test_push_steps_and_second_push_is_already_exists(client: Client) -> None:
    first = await client.push(make_experience("0/0", seed=0))
    assert (first.stepped, first.pending_samples) == (False, 4)
    with pytest.raises(AlreadyExists):  # buffered, not yet stepped: still refused
        await client.push(make_experience("0/0", seed=0))
    second = await client.push(make_experience("0/1", seed=1))
    assert (second.stepped, second.step, second.weight_version) == (True, 1, 1)
    weights = await client.weights(min_version=1)
    with pytest.raises(AlreadyExists, match="applied at step 1"):
        await client.push(make_experience("0/1", seed=1, version=1))
    assert_same(weights, await client.weights())
    status = await client.status()
    assert (status.step, status.weight_version, status.applied_shards) == (1, 1, 2)
    metrics = status.last_metrics
    assert {
        "loss",
        "kl",
        "entropy",
        "clip_frac",
        "grad_norm",
        "reward_mean",
        "tokens_per_s",
    } <= set(metrics)


async def test_stale_experience_is_failed_precondition(client: Client) -> None:
    await client.push(make_experience("0/0", seed=0))
    await client.push(make_experience("0/1", seed=1))
    with pytest.raises(FailedPrecondition, match="staleness"):
        await client.push(make_experience("0/2", version=0))
    assert (await client.status()).pending_samples == 0


def _truncated(exp: Experience) -> Experience:
    exp.loss_mask = exp.loss_mask[:, :-1].contiguous()
    return exp


def _nan(exp: Experience) -> Experience:
    exp.rewards[1] = float("nan")
    return exp


def _dtype(exp: Experience) -> Experience:
    exp.attention_mask = exp.attention_mask.to(torch.int32)
    return exp


@pytest.mark.parametrize(
    ("exp", "reason"),
    [
        (_truncated(make_experience("0/5")), "mismatched lengths"),
        (_nan(make_experience("0/5")), "NaN or inf"),
        (_dtype(make_experience("0/5")), "attention_mask must be torch.int64"),
        (make_experience("0/5", job="nope"), "unknown job"),
        (make_experience("0/5", epoch=1), "another epoch|header epoch 1"),
    ],
)
async def test_bad_input_is_invalid_argument_and_changes_nothing(
    client: Client, exp: Experience, reason: str
) -> None:
    await client.push(make_experience("0/0", seed=0))
    before_status = await client.status()
    before = await client.weights()
    with pytest.raises(InvalidArgument, match=reason):
        await client.push(exp)
    assert await client.status() == before_status
    assert_same(before, await client.weights())


async def test_malformed_stream_is_invalid_argument(client: Client) -> None:
    exp = make_experience("0/6")
    messages = list(experience_to_stream(exp, 64))
    for stream in (messages[1:], messages[:-1], [messages[0], messages[0]]):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await client.stub.PushExperience(iter(stream), timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (await client.status()).pending_samples == 0


async def test_checkpoint_rpc(client: Client, tmp_path: Path) -> None:
    await client.push(make_experience("0/0", seed=0))
    await client.push(make_experience("0/1", seed=1))
    reply = await client.trainer.checkpoint("manual", timeout_s=60)
    assert (reply.step, reply.weight_version) == (1, 1)
    path = Path(reply.path)
    assert path.parent == tmp_path / "checkpoints" and (path / "trainer_state.json").is_file()
    assert (tmp_path / "checkpoints" / "latest").read_text() == path.name
