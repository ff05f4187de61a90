"""The hf engine on a tiny real model: greedy equals transformers' generate, sampling is seeded,
top-k/top-p truncation, stop ids, and log-probs that match a recompute with the shared function.
"""

from __future__ import annotations

import pytest
import torch

from yatt.models.logprobs import token_logprobs
from yatt.services.rollout.engines.base import PromptInput, SamplingParams

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

TEXTS = ["12+7=", "3*4=", "Hello world", "Q: 99-1= A:", "The answer is"]


@pytest.fixture(scope="module")
def prompts(tokenizer) -> list[PromptInput]:
    return [PromptInput(f"p{i}", tuple(tokenizer(t).input_ids)) for i, t in enumerate(TEXTS)]


def run(engine, prompts, **kw) -> dict[tuple[str, int], object]:
    return {(s.prompt_id, s.index): s for s in engine.generate(prompts, SamplingParams(**kw))}


def test_greedy_matches_transformers_generate(engine, tokenizer, prompts) -> None:
    ours = run(engine, prompts, temperature=0.0, max_new_tokens=12)
    tokenizer.padding_side = "left"
    batch = tokenizer(TEXTS, return_tensors="pt", padding=True)
    with torch.inference_mode():
        ref = engine.model.generate(**batch, do_sample=False, max_new_tokens=12, use_cache=True)
    width = batch.input_ids.shape[1]
    eos = tokenizer.eos_token_id
    for i in range(len(TEXTS)):
        want = ref[i, width:].tolist()
        want = want[: want.index(eos) + 1] if eos in want else want
        assert ours[(f"p{i}", 0)].token_ids == want


def test_same_seed_same_samples_other_seed_differs(engine, prompts) -> None:
    a = run(engine, prompts, max_new_tokens=10, n=3, seed=7)
    b = run(engine, prompts, max_new_tokens=10, n=3, seed=7)
    c = run(engine, prompts, max_new_tokens=10, n=3, seed=8)
    assert len(a) == len(prompts) * 3
    assert {k: v.token_ids for k, v in a.items()} == {k: v.token_ids for k, v in b.items()}
    assert {k: v.token_ids for k, v in a.items()} != {k: v.token_ids for k, v in c.items()}
    # n samples of one prompt are not copies of each other.
    assert len({tuple(a[("p0", i)].token_ids) for i in range(3)}) > 1


@pytest.mark.parametrize("truncation", [{"top_k": 1}, {"top_p": 1e-6}])
def test_top_k_1_and_tiny_top_p_are_greedy(engine, prompts, truncation) -> None:
    greedy = run(engine, prompts, temperature=0.0, max_new_tokens=8)
    sampled = run(engine, prompts, temperature=1.0, max_new_tokens=8, seed=1, n=2, **truncation)
    for (pid, _), s in sampled.items():
        assert s.token_ids == greedy[(pid, 0)].token_ids
        # temperature 1: the reported log-prob is the untruncated one, equal to greedy's.
        assert s.logprobs == pytest.approx(greedy[(pid, 0)].logprobs, abs=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_logprobs_match_recompute(engine, prompts, temperature) -> None:
    out = run(engine, prompts, temperature=temperature, max_new_tokens=10, n=2, seed=3)
    for s in out.values():
        ids = torch.tensor([s.prompt_token_ids + s.token_ids])
        p = len(s.prompt_token_ids)
        with torch.no_grad():
            if temperature == 1.0:
                want = token_logprobs(engine.model, ids, torch.ones_like(ids))[0, p - 1 :]
            else:
                logits = engine.model(input_ids=ids).logits[0, p - 1 : -1].float() / temperature
                want = torch.log_softmax(logits, -1).gather(-1, ids[0, p:, None]).squeeze(-1)
        assert torch.allclose(torch.tensor(s.logprobs), want, atol=1e-4)


def test_stop_token_ids_end_rows_early_and_first(engine, prompts) -> None:
    greedy = run(engine, prompts, temperature=0.0, max_new_tokens=6)
    stop_id = greedy[("p0", 0)].token_ids[2]
    order = list(
        engine.generate(
            prompts, SamplingParams(temperature=0.0, max_new_tokens=6, stop_token_ids=(stop_id,))
        )
    )
    by_id = {s.prompt_id: s for s in order}
    full = greedy[("p0", 0)].token_ids
    assert by_id["p0"].token_ids == full[: full.index(stop_id) + 1]
    assert by_id["p0"].finish_reason == "stop"
    # Rows that stop are yielded before rows that run to the length limit.
    reasons = [s.finish_reason for s in order]
    if "length" in reasons:
        assert max(i for i, r in enumerate(reasons) if r == "stop") < reasons.index("length")
    for s in order:
        assert len(s.token_ids) <= 6
        assert (s.finish_reason == "length") == (
            len(s.token_ids) == 6 and stop_id not in s.token_ids
        )


def test_max_batch_splits_but_results_are_the_same(tiny_model, engine, prompts) -> None:
    from yatt.services.rollout.engines import build_engine

    small = build_engine("hf", str(tiny_model), max_batch=2)
    a = run(small, prompts, temperature=0.0, max_new_tokens=5, n=2)
    b = run(engine, prompts, temperature=0.0, max_new_tokens=5, n=2)
    assert {k: v.token_ids for k, v in a.items()} == {k: v.token_ids for k, v in b.items()}


def test_engine_reports_model_limits(engine) -> None:
    assert engine.max_model_len == 512
    assert engine.vocab_size == engine.model.config.vocab_size
    assert engine.name == "hf"
