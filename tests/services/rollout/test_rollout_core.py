"""RolloutCore without a server: request validation, stop strings, version stamps, and weight
switches that wait for in-flight requests (no request sees a mix of versions).
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import torch

from yatt.errors import FailedPrecondition, InvalidArgument
from yatt.models.weights import spec_from_dir
from yatt.services.rollout.core import (
    GenerateRequest,
    PromptRequest,
    RolloutCore,
    WeightStage,
)
from yatt.services.rollout.engines.base import SamplingParams
from yatt.services.rollout.stops import trim_at_stop
from yatt.services.rollout.versioning import VersionLock

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

PROMPTS = [PromptRequest("a", text="12+7="), PromptRequest("b", text="Hello world")]


@pytest.fixture
def core(engine, tokenizer, tiny_model) -> RolloutCore:
    c = RolloutCore(
        engine,
        tokenizer,
        spec_from_dir(tiny_model),
        str(tiny_model),
        SamplingParams(max_new_tokens=8),
    )
    yield c
    c._executor.shutdown(wait=True)


@pytest.fixture
def restore_weights(engine):
    saved = {k: v.clone() for k, v in engine.model.state_dict().items()}
    yield
    engine.model.load_state_dict(saved)


async def collect(core: RolloutCore, request: GenerateRequest) -> list:
    return [c async for c in core.generate(request)]


def perturbed(engine, scale: float = 3.0) -> dict[str, torch.Tensor]:
    return {n: p.detach() * scale for n, p in engine.model.named_parameters()}


@pytest.mark.parametrize(
    ("prompts", "params", "message"),
    [
        ([], SamplingParams(), "empty"),
        (PROMPTS, SamplingParams(n=0), "n must be"),
        (PROMPTS, SamplingParams(max_new_tokens=0), "max_new_tokens must be"),
        (PROMPTS, SamplingParams(max_new_tokens=510), "exceed the model's 512"),
        ([PromptRequest("x", token_ids=(1, 99999))], SamplingParams(), "outside the vocabulary"),
        ([PromptRequest("x", token_ids=(-1,))], SamplingParams(), "outside the vocabulary"),
        ([PromptRequest("x")], SamplingParams(), "neither text nor token_ids"),
        ([PROMPTS[0], PROMPTS[0]], SamplingParams(), "appears twice"),
        (PROMPTS, SamplingParams(top_p=1.5), "top_p"),
        (PROMPTS, SamplingParams(temperature=-1), "temperature"),
        (PROMPTS, SamplingParams(top_k=-2), "top_k"),
        (PROMPTS, SamplingParams(stop=("",)), "stop strings"),
        (PROMPTS, SamplingParams(stop_token_ids=(10**6,)), "stop_token_ids"),
        (PROMPTS, SamplingParams(n=5000), "exceeds 4096"),
    ],
)
async def test_bad_requests_are_invalid_argument(core, prompts, params, message) -> None:
    with pytest.raises(InvalidArgument, match=message):
        await collect(core, GenerateRequest(prompts, params))
    # The core keeps serving after a refusal.
    assert len(await collect(core, GenerateRequest(PROMPTS))) == 2


async def test_min_version_newer_than_served_is_failed_precondition(core) -> None:
    with pytest.raises(FailedPrecondition, match="min_version 1"):
        await collect(core, GenerateRequest(PROMPTS, min_version=1))


async def test_completions_carry_text_prompt_ids_and_version(core, tokenizer) -> None:
    out = await collect(
        core, GenerateRequest(PROMPTS, SamplingParams(max_new_tokens=5, n=2, seed=1))
    )
    assert sorted((c.prompt_id, c.index) for c in out) == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    for c in out:
        assert c.weight_version == 0
        assert (
            c.prompt_token_ids == tokenizer(dict(a="12+7=", b="Hello world")[c.prompt_id]).input_ids
        )
        assert c.text == tokenizer.decode(c.token_ids, skip_special_tokens=True)
        assert len(c.logprobs) == len(c.token_ids)


async def test_token_ids_take_precedence_and_payload_is_accepted(core, tokenizer) -> None:
    ids = tuple(tokenizer("3*4=").input_ids)
    out = await collect(
        core, GenerateRequest([PromptRequest("p", text="ignored", token_ids=ids, payload=b"\x00")])
    )
    assert out[0].prompt_token_ids == list(ids)


def test_trim_at_stop_keeps_tokens_up_to_the_stop_string(tokenizer) -> None:
    ids = tokenizer("12+7=19 and more").input_ids
    decode = lambda t: tokenizer.decode(t)  # noqa: E731
    text, keep, hit = trim_at_stop(decode(ids), ids, ("=1", "more"), decode)
    assert hit and text == "12+7"
    assert "=1" in decode(ids[:keep]) and "=1" not in decode(ids[: keep - 1])
    assert trim_at_stop("abc", [1, 2], ("z",), decode) == ("abc", 2, False)


async def test_stop_strings_trim_text_and_tokens(core) -> None:
    base = await collect(
        core, GenerateRequest(PROMPTS, SamplingParams(temperature=0, max_new_tokens=12))
    )
    text = next(c.text for c in base if c.prompt_id == "b")
    stop = text[3:5]
    assert stop
    out = await collect(
        core,
        GenerateRequest(PROMPTS, SamplingParams(temperature=0, max_new_tokens=12, stop=(stop,))),
    )
    b = next(c for c in out if c.prompt_id == "b")
    assert b.finish_reason == "stop"
    assert b.text == text[: text.find(stop)]
    assert stop not in b.text
    assert len(b.token_ids) == len(b.logprobs) < 12


async def test_load_weights_switches_version_and_outputs(core, engine, restore_weights) -> None:
    greedy = GenerateRequest(PROMPTS, SamplingParams(temperature=0, max_new_tokens=6))
    before = {c.prompt_id: c.token_ids for c in await collect(core, greedy)}
    stage = core.stage_weights()
    weights = perturbed(engine)
    for name, t in weights.items():
        stage.add(1, len(weights), name, t)
    result = await core.commit_weights(stage)
    assert (result.weight_version, result.tensors) == (1, len(weights))
    out = await collect(core, greedy)
    assert {c.weight_version for c in out} == {1}
    assert {c.prompt_id: c.token_ids for c in out} != before
    assert core.info().weight_version == 1
    # An older or equal version is refused and the served one stays.
    stage = core.stage_weights()
    for name, t in weights.items():
        stage.add(1, len(weights), name, t)
    with pytest.raises(FailedPrecondition, match="not newer"):
        await core.commit_weights(stage)


def test_weight_stage_refuses_bad_tensors(core, engine) -> None:
    weights = perturbed(engine, 1.0)
    count = len(weights)
    name, t = next(iter(weights.items()))
    with pytest.raises(InvalidArgument, match="unexpected tensor 'nope'"):
        core.stage_weights().add(1, count, "nope", t)
    with pytest.raises(InvalidArgument, match=r"got float32\[3\]"):
        core.stage_weights().add(1, count, name, torch.zeros(3))
    with pytest.raises(InvalidArgument, match="bfloat16"):
        core.stage_weights().add(1, count, name, t.to(torch.bfloat16))
    stage = core.stage_weights()
    stage.add(1, count, name, t)
    with pytest.raises(InvalidArgument, match="sent twice"):
        stage.add(1, count, name, t)
    with pytest.raises(InvalidArgument, match="differ"):
        stage.add(2, count, "model.norm.weight", weights["model.norm.weight"])
    # The tied lm_head.weight may be sent along and is not double counted.
    stage.add(1, count, "lm_head.weight", weights["model.embed_tokens.weight"])
    assert stage.received == 1


async def test_missing_tensors_are_named(core, engine) -> None:
    stage = core.stage_weights()
    weights = perturbed(engine, 1.0)
    for name, t in list(weights.items())[1:]:
        stage.add(1, len(weights), name, t)
    with pytest.raises(InvalidArgument, match="missing 1 tensors: model.embed_tokens.weight"):
        await core.commit_weights(stage)
    with pytest.raises(InvalidArgument, match="empty"):
        await core.commit_weights(WeightStage(core.spec))
    assert core.version == 0


async def test_switch_waits_for_in_flight_request(core, engine, restore_weights) -> None:
    long = GenerateRequest(
        [PromptRequest(f"p{i}", text=f"{i}+{i}=") for i in range(16)],
        SamplingParams(max_new_tokens=120, n=2, seed=5),
    )
    reference = {(c.prompt_id, c.index): c.token_ids for c in await collect(core, long)}
    stage = core.stage_weights()
    weights = perturbed(engine)
    for name, t in weights.items():
        stage.add(1, len(weights), name, t)
    received = []
    switched_at: list[float] = []

    async def consume() -> float:
        async for c in core.generate(long):
            received.append(c)
            await asyncio.sleep(0)
        return time.monotonic()

    async def switch() -> None:
        await asyncio.sleep(0.05)  # the request has started decoding
        assert core._lock.readers == 1
        await core.commit_weights(stage)
        switched_at.append(time.monotonic())

    finished_at, _ = await asyncio.gather(consume(), switch())
    # Every completion of the in-flight request used the old weights, all of them.
    assert {c.weight_version for c in received} == {0}
    assert {(c.prompt_id, c.index): c.token_ids for c in received} == reference
    assert switched_at[0] >= finished_at - 0.05
    assert {c.weight_version for c in await collect(core, long)} == {1}


def test_version_lock_writer_waits_for_readers_and_blocks_new_ones() -> None:
    lock = VersionLock()
    events: list[str] = []
    reader_in = threading.Event()
    release_reader = threading.Event()

    def reader(tag: str, hold: threading.Event | None) -> None:
        with lock.read():
            events.append(f"{tag}-in")
            reader_in.set()
            if hold is not None:
                hold.wait(5)
            events.append(f"{tag}-out")

    def writer() -> None:
        with lock.write():
            events.append("write")

    r1 = threading.Thread(target=reader, args=("r1", release_reader))
    r1.start()
    reader_in.wait(5)
    w = threading.Thread(target=writer)
    w.start()
    time.sleep(0.05)
    r2 = threading.Thread(target=reader, args=("r2", None))
    r2.start()
    time.sleep(0.05)
    assert events == ["r1-in"]  # the writer waits for r1; r2 waits behind the writer
    release_reader.set()
    for t in (r1, w, r2):
        t.join(5)
    assert events == ["r1-in", "r1-out", "write", "r2-in", "r2-out"]
