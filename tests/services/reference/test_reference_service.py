"""The reference service: log-probs over gRPC equal the trainer's token_logprobs on a separately
loaded model (max abs diff < 1e-5, float32), batching does not change them, bad input is refused.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from yatt.errors import InvalidArgument
from yatt.models.load import load_causal_lm
from yatt.models.logprobs import token_logprobs
from yatt.process.handle import ProcessHandle
from yatt.services.reference import convert
from yatt.services.reference.client import ReferenceClient
from yatt.services.reference.core import ReferenceCore, SequenceLogProbs, TokenSequence

READY = "yatt reference serving on"


def sequences(vocab: int, count: int = 9, seed: int = 0) -> list[TokenSequence]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        n = rng.randint(2, 40)
        ids = tuple(rng.randrange(vocab) for _ in range(n))
        out.append(TokenSequence(f"s{i}", ids, rng.randint(1, n)))
    return out


def direct(model: torch.nn.Module, s: TokenSequence) -> torch.Tensor:
    """What the trainer computes: the shared function on one unpadded sequence."""
    ids = torch.tensor([s.token_ids])
    with torch.no_grad():
        return token_logprobs(model, ids, torch.ones_like(ids))[0, s.prompt_len - 1 :]


@pytest.fixture(scope="module")
def model(tiny_model: Path) -> torch.nn.Module:
    return load_causal_lm(tiny_model)


@pytest.mark.unit
@pytest.mark.timeout(60)
@pytest.mark.parametrize("max_batch_tokens", [40, 100_000])
async def test_core_matches_direct_call_for_any_batching(
    tiny_model, model, max_batch_tokens
) -> None:
    core = ReferenceCore(load_causal_lm(tiny_model), max_batch_tokens=max_batch_tokens)
    seqs = sequences(core.vocab_size)
    out = await core.logprobs(seqs)
    core.close()
    assert [r.id for r in out] == [s.id for s in seqs]
    for s, r in zip(seqs, out, strict=True):
        assert len(r.logprobs) == len(s.token_ids) - s.prompt_len
        assert torch.tensor(r.logprobs).sub(direct(model, s)).abs().max().item() < 1e-5


@pytest.mark.unit
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("seqs", "message"),
    [
        ([], "empty"),
        ([TokenSequence("a", (1, 2), 0)], "prompt_len 0"),
        ([TokenSequence("a", (1, 2), 3)], "prompt_len 3"),
        ([TokenSequence("a", (1, 99999), 1)], "outside the vocabulary"),
        ([TokenSequence("a", tuple([1] * 513), 1)], "exceed the model's 512"),
    ],
)
async def test_core_refuses_bad_sequences(model, seqs, message) -> None:
    core = ReferenceCore(model, max_sequences=4)
    with pytest.raises(InvalidArgument, match=message):
        await core.logprobs(seqs)
    with pytest.raises(InvalidArgument, match="max_sequences"):
        await core.logprobs([TokenSequence("a", (1, 2), 1)] * 5)
    core.close()


@pytest.mark.unit
def test_convert_round_trip() -> None:
    seqs = [TokenSequence("a", (1, 2, 3), 2), TokenSequence("b", (4,), 1)]
    assert convert.request_from_proto(convert.request_to_proto(seqs)) == seqs
    reply = [SequenceLogProbs("a", [-0.5]), SequenceLogProbs("b", [])]
    assert convert.reply_from_proto(convert.reply_to_proto(reply)) == reply


@pytest.fixture(scope="module")
def service(tiny_model: Path) -> Iterator[tuple[ProcessHandle, str]]:
    proc = ProcessHandle.python(
        "-m", "yatt.services.reference", "--set", f"model.path={tiny_model}",
        "--set", "threads=1", "--set", "max_batch_tokens=200", name="reference",
    ).start()  # fmt: skip
    try:
        yield proc, proc.wait_for_line(READY, timeout=90).rsplit(" ", 1)[-1]
    finally:
        proc.stop()


@pytest.mark.integration
@pytest.mark.timeout(120)
async def test_service_matches_trainer_function_and_refuses_bad_input(service, model) -> None:
    proc, endpoint = service
    seqs = sequences(model.config.vocab_size, count=12, seed=1)
    async with ReferenceClient.connect(endpoint) as reference:
        results = await reference.logprobs(seqs, timeout_s=60)
        bad = [
            ([], "sequences: empty"),
            ([TokenSequence("x", (1, 10**6), 1)], "outside the vocabulary"),
            ([TokenSequence("x", (1, 2), 0)], "prompt_len 0"),
        ]
        for request, match in bad:
            with pytest.raises(InvalidArgument, match=match):
                await reference.logprobs(request, timeout_s=30)
        [alone] = await reference.logprobs(seqs[:1], timeout_s=30)
    assert [r.id for r in results] == [s.id for s in seqs]
    worst = max(
        torch.tensor(r.logprobs).sub(direct(model, s)).abs().max().item()
        for s, r in zip(seqs, results, strict=True)
        if r.logprobs
    )
    assert worst < 1e-5
    # The same sequence scored alone: batched and unbatched CPU kernels may differ in the last bits.
    assert alone.id == results[0].id
    assert torch.tensor(alone.logprobs).sub(torch.tensor(results[0].logprobs)).abs().max() < 1e-5
    assert proc.alive()
