"""The generative judge against a real rollout service process (tiny random LM, greedy)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from yatt.process.handle import ProcessHandle
from yatt.services.reward.plugins.base import RewardContext, RewardSample
from yatt.services.reward.plugins.judge import Judge, JudgeOptions
from yatt.services.rollout.client import RolloutClient
from yatt.services.rollout.core import GenerateRequest, PromptRequest
from yatt.services.rollout.engines.base import SamplingParams

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SAMPLES = [
    RewardSample("a", "7+12=", "19", {"answer": "19"}),
    RewardSample("b", "Say hello.", "Hello world!", {"answer": "hello"}),
]
OPTIONS = {"max_new_tokens": 12, "temperature": 0.0, "fallback": -0.5}


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from yatt.models.init import init_model

    return init_model("tiny", tmp_path_factory.mktemp("judge-lm"), seed=0)


@pytest.fixture(scope="module")
def rollout(lm_dir: Path) -> Iterator[str]:
    proc = ProcessHandle.python(
        "-m", "yatt.services.rollout", "--set", f"model.path={lm_dir}", "--set", "threads=1",
        name="rollout",
    ).start()  # fmt: skip
    try:
        yield proc.wait_for_line("yatt rollout serving on", timeout=90).rsplit(" ", 1)[-1]
    finally:
        proc.stop()


async def judge_texts(endpoint: str, judge: Judge) -> list[str]:
    """What the judge model writes for the grading prompts, asked directly, batched the same way."""
    request = GenerateRequest(
        [PromptRequest(str(i), judge.grading_prompt(s)) for i, s in enumerate(SAMPLES)],
        SamplingParams(temperature=0.0, max_new_tokens=12, n=1, seed=0),
    )
    async with RolloutClient.connect(endpoint) as rollout:
        texts = {int(c.prompt_id): c.text async for c in rollout.generate(request, timeout_s=60)}
    return [texts[i] for i in range(len(SAMPLES))]


async def test_judge_plugin_parses_and_falls_back(rollout: str) -> None:
    judge = Judge(JudgeOptions(endpoint=rollout, **OPTIONS), RewardContext())
    expected = await judge_texts(rollout, judge)
    await judge.start()
    try:
        # A random model writes no "score: X": every sample falls back, and says so.
        results = await judge.score(SAMPLES)
        for result, text in zip(results, expected, strict=True):
            assert (result.total, result.components) == (-0.5, {"parse_failed": 1.0})
            assert result.details == {"verdict": text, "parsed": False}
        # A verdict vocabulary that covers what it writes: the parsed scores come through.
        words = {text.strip().lower(): 0.25 * (i + 1) for i, text in enumerate(expected)}
        options = JudgeOptions(endpoint=rollout, verdict_regex=r"(?s)(.+)", words=words, **OPTIONS)
        covered = Judge(options, RewardContext())
        await covered.start()
        parsed = await covered.score(SAMPLES)
        await covered.close()
    finally:
        await judge.close()
    assert [r.total for r in parsed] == [words[t.strip().lower()] for t in expected]
    assert all(r.components == {"parse_failed": 0.0} for r in parsed)


async def test_reward_service_with_judge(rollout: str, tmp_path: Path, score: Callable) -> None:
    config = tmp_path / "reward.yaml"
    config.write_text(
        yaml.safe_dump(
            {"functions": [
                {"name": "judge", "weight": 2.0, "options": {"endpoint": rollout, **OPTIONS}},
                {"name": "exact_answer"},
            ]}
        )
    )  # fmt: skip
    proc = ProcessHandle.python("-m", "yatt.services.reward", "--config", str(config)).start()
    try:
        endpoint = proc.wait_for_line("yatt reward serving on", timeout=60).rsplit(" ", 1)[-1]
        scores = dict(await score(endpoint, SAMPLES))
    finally:
        proc.stop()
    expected = await judge_texts(
        rollout, Judge(JudgeOptions(endpoint=rollout, **OPTIONS), RewardContext())
    )
    assert scores["a"].components == {"judge": -0.5, "judge.parse_failed": 1.0, "exact_answer": 1.0}
    assert scores["a"].total == pytest.approx(2.0 * -0.5 + 1.0)
    assert scores["b"].total == pytest.approx(2.0 * -0.5 + 0.0)
    assert scores["b"].details["judge"] == {"verdict": expected[1], "parsed": False}


async def test_unreachable_judge_is_unavailable() -> None:
    from yatt.errors import Unavailable
    from yatt.process.ports import free_port

    judge = Judge(JudgeOptions(endpoint=f"127.0.0.1:{free_port()}", timeout_s=3), RewardContext())
    await judge.start()
    try:
        with pytest.raises(Unavailable, match="judge at 127.0.0.1"):
            await judge.score(SAMPLES)
    finally:
        await judge.close()
