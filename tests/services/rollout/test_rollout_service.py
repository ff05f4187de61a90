"""The rollout service as a real process called over gRPC: Info, streamed Generate, bad input,
chunked LoadWeights with exact validation and atomic version switch, and etcd registration.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from yatt.config.common import EtcdConfig
from yatt.contracts import RolloutMember
from yatt.coordination.client import connect
from yatt.coordination.discovery import RoleDirectory
from yatt.errors import FailedPrecondition, InvalidArgument, YattError
from yatt.process.handle import ProcessHandle
from yatt.services.rollout.client import RolloutClient
from yatt.services.rollout.core import Completion, GenerateRequest, PromptRequest
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


def request(params: SamplingParams | None, texts=TEXTS, **kw) -> GenerateRequest:  # noqa: ANN001
    prompts = [PromptRequest(f"p{i}", t) for i, t in enumerate(texts)]
    return GenerateRequest(prompts, params, **kw)


async def generate(rollout: RolloutClient, req: GenerateRequest) -> list[Completion]:
    return [c async for c in rollout.generate(req, timeout_s=60)]


def local_greedy(engine, tokenizer, max_new: int) -> dict[str, list[int]]:  # noqa: ANN001
    prompts = [PromptInput(f"p{i}", tuple(tokenizer(t).input_ids)) for i, t in enumerate(TEXTS)]
    params = SamplingParams(temperature=0.0, max_new_tokens=max_new)
    return {s.prompt_id: s.token_ids for s in engine.generate(prompts, params)}


async def test_info_and_greedy_generate_match_in_process_engine(
    service, engine, tokenizer, tiny_model
) -> None:
    _, endpoint = service
    async with RolloutClient.connect(endpoint) as rollout:
        info = await rollout.info()
        assert (info.engine, info.model, info.weight_version) == ("hf", str(tiny_model), 0)
        assert (info.max_model_len, info.vocab_size) == (512, engine.vocab_size)
        out = await generate(rollout, request(SamplingParams(temperature=0.0, max_new_tokens=10)))
    assert {c.prompt_id: c.token_ids for c in out} == local_greedy(engine, tokenizer, 10)
    for c in out:
        assert c.weight_version == 0 and len(c.logprobs) == len(c.token_ids)
        assert c.prompt_token_ids == tokenizer(TEXTS[int(c.prompt_id[1:])]).input_ids


async def test_sampled_n_per_prompt_and_default_params(service) -> None:
    _, endpoint = service
    async with RolloutClient.connect(endpoint) as rollout:
        params = SamplingParams(max_new_tokens=7, n=3, seed=4, top_k=20, top_p=0.9)
        a = await generate(rollout, request(params))
        b = await generate(rollout, request(params))
        default = await generate(rollout, request(None))  # service default: 64 tokens, n=1
    assert sorted((c.prompt_id, c.index) for c in a) == [
        (f"p{i}", j) for i in range(3) for j in range(3)
    ]
    key = lambda cs: {(c.prompt_id, c.index): c.token_ids for c in cs}  # noqa: E731
    assert key(a) == key(b)
    assert len(default) == 3 and all(len(c.token_ids) <= 64 for c in default)


async def expect(call, error: type[YattError], match: str) -> None:  # noqa: ANN001
    with pytest.raises(error, match=match):
        await call()


async def test_bad_input_is_refused_and_service_keeps_serving(service) -> None:
    proc, endpoint = service
    async with RolloutClient.connect(endpoint) as rollout:
        cases = [
            (request(SamplingParams(), texts=[]), "prompts: empty"),
            (request(SamplingParams(n=0)), "n must be >= 1"),
            (request(SamplingParams(max_new_tokens=600)), "exceed the model's 512"),
            (
                GenerateRequest([PromptRequest("x", token_ids=(5, 100000))], SamplingParams()),
                "outside the vocabulary",
            ),
        ]
        for req, match in cases:
            await expect(lambda r=req: generate(rollout, r), InvalidArgument, match)
        await expect(
            lambda: generate(rollout, request(SamplingParams(), min_version=3)),
            FailedPrecondition,
            "min_version 3",
        )
        assert len(await generate(rollout, request(SamplingParams(max_new_tokens=2)))) == 3
    assert proc.alive()


def perturbed(engine, scale: float) -> dict[str, torch.Tensor]:  # noqa: ANN001
    return {n: p.detach() * scale for n, p in engine.model.named_parameters()}


async def test_load_weights_validates_then_switches_version(
    service, engine, tokenizer, etcd_server
) -> None:
    _, endpoint = service
    weights = perturbed(engine, 2.0)
    async with RolloutClient.connect(endpoint) as rollout:

        def load(w, version=1):  # noqa: ANN001, ANN202
            return rollout.load_weights(version, w, timeout_s=60, chunk_bytes=16384)

        missing = dict(weights)
        del missing["model.norm.weight"]
        await expect(lambda: load(missing), InvalidArgument, "missing 1 tensors: model.norm.weight")
        await expect(
            lambda: load({**weights, "extra.bias": torch.zeros(2)}), InvalidArgument, "extra.bias"
        )
        wrong = {**weights, "model.norm.weight": weights["model.norm.weight"].double()}
        await expect(lambda: load(wrong), InvalidArgument, "model.norm.weight")
        assert (await rollout.info()).weight_version == 0

        reply = await load(weights)
        assert (reply.weight_version, reply.tensors) == (1, len(weights))
        assert reply.bytes == sum(t.numel() * 4 for t in weights.values())
        out = await generate(rollout, request(SamplingParams(temperature=0.0, max_new_tokens=10)))
        assert (await rollout.info()).weight_version == 1
        await expect(lambda: load(weights), FailedPrecondition, "not newer")
    assert {c.weight_version for c in out} == {1}
    saved = {k: v.clone() for k, v in engine.model.state_dict().items()}
    try:
        engine.load_weights(weights)
        want = local_greedy(engine, tokenizer, 10)
    finally:
        engine.model.load_state_dict(saved)
    assert {c.prompt_id: c.token_ids for c in out} == want
    assert want != local_greedy(engine, tokenizer, 10)
    # The etcd member record shows the new version.
    client = await connect(EtcdConfig(endpoint=etcd_server.endpoint))
    try:
        async with RoleDirectory(client, "job1", "rollout") as directory:
            members = await directory.wait_until(
                lambda m: isinstance(g0 := m.get("g0"), RolloutMember) and g0.weight_version == 1,
                timeout=10,
            )
    finally:
        await client.close()
    g0 = members["g0"]
    assert isinstance(g0, RolloutMember)
    assert (g0.endpoint, g0.engine, g0.instance, g0.role) == (endpoint, "hf", "g0", "rollout")


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
