"""The rollout service with engine=vllm as a real .venv-vllm process, called over gRPC from here.

Greedy completions must equal the hf engine's on the same weights, before and after LoadWeights.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from safetensors.torch import load_file

from yatt.models.load import load_tokenizer
from yatt.process.handle import ProcessHandle
from yatt.protos import common_pb2, rollout_pb2, rollout_pb2_grpc
from yatt.rpc.channel import make_channel
from yatt.services.rollout import convert
from yatt.services.rollout.engines import build_engine
from yatt.services.rollout.engines.base import PromptInput, SamplingParams

VLLM_PYTHON = Path(__file__).resolve().parents[3] / ".venv-vllm" / "bin" / "python"
pytestmark = [
    pytest.mark.skipif(
        not VLLM_PYTHON.exists(), reason=f"{VLLM_PYTHON} is absent: run scripts/setup_vllm_env.sh"
    ),
    pytest.mark.integration,
    pytest.mark.vllm,
    pytest.mark.timeout(240),
]

READY = "yatt rollout serving on"
TEXTS = ["12+7=", "3*4=", "Hello world"]
GREEDY = SamplingParams(temperature=0.0, max_new_tokens=10)


@pytest.fixture(scope="module")
def service(
    vllm_models: tuple[Path, Path], vllm_env: dict[str, str]
) -> Iterator[tuple[ProcessHandle, str]]:
    proc = ProcessHandle(
        [str(VLLM_PYTHON), "-m", "yatt.cli", "serve", "rollout",
         "--set", f"model.path={vllm_models[0]}", "--set", "engine=vllm",
         "--set", "engine_options.kv_cache_gib=0.25", "--set", "max_batch=64"],
        env=vllm_env,
        name="rollout-vllm",
    ).start()  # fmt: skip
    try:
        yield proc, proc.wait_for_line(READY, timeout=180).rsplit(" ", 1)[-1]
    finally:
        proc.stop(timeout=15)  # vLLM's teardown takes seconds on CPU


def request(params: SamplingParams) -> rollout_pb2.GenerateRequest:
    prompts = [common_pb2.Prompt(id=f"p{i}", text=t) for i, t in enumerate(TEXTS)]
    return rollout_pb2.GenerateRequest(prompts=prompts, params=convert.params_to_proto(params))


async def generate(stub, params: SamplingParams) -> list[rollout_pb2.Completion]:  # noqa: ANN001
    return [c async for c in stub.Generate(request(params), timeout=60)]


def hf_greedy(model: Path, prompts: list[PromptInput]) -> dict[str, list[int]]:
    engine = build_engine("hf", str(model), max_batch=8)
    return {s.prompt_id: s.token_ids for s in engine.generate(prompts, GREEDY)}


async def test_generate_and_load_weights_over_grpc(service, vllm_models: tuple[Path, Path]) -> None:
    proc, endpoint = service
    model_a, model_b = vllm_models
    async with make_channel(endpoint) as channel:
        stub = rollout_pb2_grpc.RolloutServiceStub(channel)
        info = await stub.Info(rollout_pb2.InfoRequest(), timeout=10)
        assert (info.engine, info.policy_version, info.max_model_len) == ("vllm", 0, 512)

        greedy_a = await generate(stub, GREEDY)
        sampled = SamplingParams(max_new_tokens=8, n=2, seed=3)
        first, again = await generate(stub, sampled), await generate(stub, sampled)

        reply = await stub.LoadWeights(
            convert.weight_chunks(load_file(model_b / "model.safetensors"), 1, chunk_bytes=65536),
            timeout=60,
        )
        assert reply.version == 1
        greedy_b = await generate(stub, GREEDY)

    tokens = lambda cs: {(c.prompt_id, c.index): list(c.token_ids) for c in cs}  # noqa: E731
    assert sorted(tokens(first)) == [(f"p{i}", j) for i in range(3) for j in range(2)]
    assert tokens(first) == tokens(again)
    for c in first:
        assert all(0 <= t < info.vocab_size for t in c.token_ids)
        assert len(c.logprobs) == len(c.token_ids)
        assert all(math.isfinite(x) and x <= 0 for x in c.logprobs)

    assert {c.policy_version for c in greedy_a} == {0}
    assert {c.policy_version for c in greedy_b} == {1}
    # The service keeps model a's tokenizer across weight swaps (model b's was trained apart).
    tokenizer = load_tokenizer(model_a)
    prompts = [PromptInput(f"p{i}", tuple(tokenizer(t).input_ids)) for i, t in enumerate(TEXTS)]
    assert {c.prompt_id: tuple(c.prompt_token_ids) for c in greedy_b} == {
        p.id: p.token_ids for p in prompts
    }
    want_a, want_b = hf_greedy(model_a, prompts), hf_greedy(model_b, prompts)
    assert want_a != want_b
    assert {c.prompt_id: list(c.token_ids) for c in greedy_a} == want_a
    assert {c.prompt_id: list(c.token_ids) for c in greedy_b} == want_b
    assert proc.alive()
