"""The rollout service as a real process called over gRPC: Info, streamed Generate, bad input,
chunked LoadWeights with exact validation and atomic version switch, and etcd registration.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import torch

from yatt.config.common import EtcdConfig
from yatt.coordination.client import connect
from yatt.coordination.discovery import RoleDirectory
from yatt.process.handle import ProcessHandle
from yatt.protos import common_pb2, rollout_pb2, rollout_pb2_grpc
from yatt.rpc.channel import make_channel
from yatt.services.rollout import convert
from yatt.services.rollout.engines.base import PromptInput, SamplingParams
from yatt.testing.etcd import EtcdServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

READY = "yatt rollout serving on"
TEXTS = ["12+7=", "3*4=", "Hello world"]


@pytest.fixture(scope="module")
def etcd_server() -> Iterator[EtcdServer]:
    with EtcdServer() as server:
        yield server


@pytest.fixture(scope="module")
def service(tiny_model: Path, etcd_server: EtcdServer) -> Iterator[tuple[ProcessHandle, str]]:
    proc = ProcessHandle.python(
        "-m", "yatt.cli", "serve", "rollout",
        "--set", f"model.path={tiny_model}", "--set", "threads=1",
        "--set", "registration.job=job1", "--set", "registration.instance=g0",
        "--set", f"etcd.endpoint={etcd_server.endpoint}", "--set", "registration.load_interval_s=0.2",
        name="rollout",
    ).start()  # fmt: skip
    try:
        yield proc, proc.wait_for_line(READY, timeout=90).rsplit(" ", 1)[-1]
    finally:
        proc.stop()


def request(params: SamplingParams | None, texts=TEXTS, **kw) -> rollout_pb2.GenerateRequest:  # noqa: ANN001
    prompts = [common_pb2.Prompt(id=f"p{i}", text=t) for i, t in enumerate(texts)]
    return rollout_pb2.GenerateRequest(
        prompts=prompts, params=None if params is None else convert.params_to_proto(params), **kw
    )


async def generate(stub, req) -> list[rollout_pb2.Completion]:  # noqa: ANN001
    return [c async for c in stub.Generate(req, timeout=60)]


def local_greedy(engine, tokenizer, max_new: int) -> dict[str, list[int]]:  # noqa: ANN001
    prompts = [PromptInput(f"p{i}", tuple(tokenizer(t).input_ids)) for i, t in enumerate(TEXTS)]
    params = SamplingParams(temperature=0.0, max_new_tokens=max_new)
    return {s.prompt_id: s.token_ids for s in engine.generate(prompts, params)}


async def test_info_and_greedy_generate_match_in_process_engine(
    service, engine, tokenizer, tiny_model
) -> None:
    _, endpoint = service
    async with make_channel(endpoint) as channel:
        stub = rollout_pb2_grpc.RolloutServiceStub(channel)
        info = await stub.Info(rollout_pb2.InfoRequest(), timeout=10)
        assert (info.engine, info.model, info.policy_version) == ("hf", str(tiny_model), 0)
        assert (info.max_model_len, info.vocab_size) == (512, engine.vocab_size)
        out = await generate(stub, request(SamplingParams(temperature=0.0, max_new_tokens=10)))
    assert {c.prompt_id: list(c.token_ids) for c in out} == local_greedy(engine, tokenizer, 10)
    for c in out:
        assert c.policy_version == 0 and len(c.logprobs) == len(c.token_ids)
        assert list(c.prompt_token_ids) == tokenizer(TEXTS[int(c.prompt_id[1:])]).input_ids


async def test_sampled_n_per_prompt_and_default_params(service) -> None:
    _, endpoint = service
    async with make_channel(endpoint) as channel:
        stub = rollout_pb2_grpc.RolloutServiceStub(channel)
        params = SamplingParams(max_new_tokens=7, n=3, seed=4, top_k=20, top_p=0.9)
        a = await generate(stub, request(params))
        b = await generate(stub, request(params))
        default = await generate(stub, request(None))  # service default: 64 tokens, n=1
    assert sorted((c.prompt_id, c.index) for c in a) == [
        (f"p{i}", j) for i in range(3) for j in range(3)
    ]
    key = lambda cs: {(c.prompt_id, c.index): list(c.token_ids) for c in cs}  # noqa: E731
    assert key(a) == key(b)
    assert len(default) == 3 and all(len(c.token_ids) <= 64 for c in default)


async def expect(stub_call, code: grpc.StatusCode, match: str) -> None:  # noqa: ANN001
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub_call()
    assert err.value.code() == code, err.value.details()
    assert match in err.value.details()


async def test_bad_input_is_refused_and_service_keeps_serving(service) -> None:
    proc, endpoint = service
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    async with make_channel(endpoint) as channel:
        stub = rollout_pb2_grpc.RolloutServiceStub(channel)
        cases = [
            (request(SamplingParams(), texts=[]), "prompts: empty"),
            (request(SamplingParams(n=0)), "n must be >= 1"),
            (request(SamplingParams(max_new_tokens=600)), "exceed the model's 512"),
            (
                rollout_pb2.GenerateRequest(
                    prompts=[common_pb2.Prompt(id="x", token_ids=[5, 100000])],
                    params=convert.params_to_proto(SamplingParams()),
                ),
                "outside the vocabulary",
            ),
        ]
        for req, match in cases:
            await expect(lambda r=req: generate(stub, r), invalid, match)
        await expect(
            lambda: generate(stub, request(SamplingParams(), min_version=3)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "min_version 3",
        )
        assert len(await generate(stub, request(SamplingParams(max_new_tokens=2)))) == 3
    assert proc.alive()


def perturbed(engine, scale: float) -> dict[str, torch.Tensor]:  # noqa: ANN001
    return {n: p.detach() * scale for n, p in engine.model.named_parameters()}


async def test_load_weights_validates_then_switches_version(
    service, engine, tokenizer, etcd_server
) -> None:
    _, endpoint = service
    weights = perturbed(engine, 2.0)
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    async with make_channel(endpoint) as channel:
        stub = rollout_pb2_grpc.RolloutServiceStub(channel)

        def load(w, version=1):  # noqa: ANN001, ANN202
            return stub.LoadWeights(
                convert.weight_chunks(w, version, chunk_bytes=16384), timeout=60
            )

        missing = dict(weights)
        del missing["model.norm.weight"]
        await expect(lambda: load(missing), invalid, "missing 1 tensors: model.norm.weight")
        await expect(lambda: load({**weights, "extra.bias": torch.zeros(2)}), invalid, "extra.bias")
        wrong = {**weights, "model.norm.weight": weights["model.norm.weight"].double()}
        await expect(lambda: load(wrong), invalid, "model.norm.weight")
        assert (await stub.Info(rollout_pb2.InfoRequest(), timeout=10)).policy_version == 0

        reply = await load(weights)
        assert (reply.version, reply.tensors) == (1, len(weights))
        assert reply.bytes == sum(t.numel() * 4 for t in weights.values())
        out = await generate(stub, request(SamplingParams(temperature=0.0, max_new_tokens=10)))
        assert (await stub.Info(rollout_pb2.InfoRequest(), timeout=10)).policy_version == 1
        await expect(lambda: load(weights), grpc.StatusCode.FAILED_PRECONDITION, "not newer")
    assert {c.policy_version for c in out} == {1}
    saved = {k: v.clone() for k, v in engine.model.state_dict().items()}
    try:
        engine.load_weights(weights)
        want = local_greedy(engine, tokenizer, 10)
    finally:
        engine.model.load_state_dict(saved)
    assert {c.prompt_id: list(c.token_ids) for c in out} == want
    assert want != local_greedy(engine, tokenizer, 10)
    # The etcd member record shows the new version.
    client = await connect(EtcdConfig(endpoint=etcd_server.endpoint))
    try:
        async with RoleDirectory(client, "job1", "rollout") as directory:
            members = await directory.wait_until(
                lambda m: m.get("g0", {}).get("weight_version") == 1, timeout=10
            )
    finally:
        await client.close()
    assert members["g0"]["endpoint"] == endpoint and members["g0"]["engine"] == "hf"


def test_bad_model_path_fails_at_start() -> None:
    proc = ProcessHandle.python(
        "-m", "yatt.cli", "serve", "rollout", "--set", "model.path=/nonexistent", name="rollout"
    )  # fmt: skip
    try:
        proc.start()
        with pytest.raises(RuntimeError, match="exited"):
            proc.wait_for_line(READY, timeout=90)
        assert proc.stop() == 2
        assert "/nonexistent' is not a local model directory" in proc.output()
    finally:
        proc.stop()
