"""The judge's verdict parsing, grading prompt and config checks (no rollout service needed)."""

from __future__ import annotations

import re

import pytest

from yatt.errors import ConfigError, InvalidArgument
from yatt.services.reward.plugins.base import FunctionSpec, RewardContext, RewardSample
from yatt.services.reward.plugins.judge import DEFAULT_VERDICT, Judge, JudgeOptions, parse_verdict
from yatt.services.reward.plugins.registry import build

pytestmark = pytest.mark.unit

WORDS = {"yes": 1.0, "no": 0.0}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("score: 0.8", 0.8),
        ("Score = .5 because", 0.5),
        ("SCORE:1", 1.0),
        ("score: -2", -2.0),
        ("Yes, it is right.", 1.0),
        ("no", 0.0),
        ("I think not. Score: 0.3", 0.3),  # "not" is not the word "no"
        ("nothing useful", None),
        ("", None),
        ("the score is high", None),
    ],
)
def test_default_verdicts(text: str, value: float | None) -> None:
    assert parse_verdict(text, re.compile(DEFAULT_VERDICT), WORDS) == value


def test_custom_regex_and_words() -> None:
    regex = re.compile(r"VERDICT\[(\w+)\]")
    words = {"CORRECT": 1.0, "Partial": 0.5}
    assert parse_verdict("... VERDICT[partial] ...", regex, words) == 0.5
    assert parse_verdict("VERDICT[7]", regex, words) == 7.0
    assert parse_verdict("VERDICT[maybe]", regex, words) is None


def judge(**options: object) -> Judge:
    return Judge(JudgeOptions(endpoint="127.0.0.1:1", **options), RewardContext())


def test_fallback_and_clamp_reported() -> None:
    fn = judge(fallback=0.1, min_score=0.0, max_score=1.0)
    failed = fn._result("gibberish")
    assert (failed.total, failed.components) == (0.1, {"parse_failed": 1.0})
    assert failed.details == {"verdict": "gibberish", "parsed": False}
    missing = fn._result(None)
    assert missing.total == 0.1 and missing.details["parsed"] is False
    clamped = fn._result("score: 7")
    assert (clamped.total, clamped.components) == (1.0, {"parse_failed": 0.0})


def test_grading_prompt_and_required_answer() -> None:
    fn = judge(template="Q {prompt} A {completion} R {answer}")
    s = RewardSample(id="a", prompt="1+1=", completion="2", metadata={"answer": 2})
    assert fn.grading_prompt(s) == "Q 1+1= A 2 R 2"
    with pytest.raises(InvalidArgument, match="missing 'answer'"):
        fn.check(RewardSample(id="a", prompt="", completion=""), "samples.0")
    no_answer = judge(template="Is '{completion}' polite? yes/no")
    no_answer.check(RewardSample(id="a", prompt="", completion=""), "samples.0")


def test_config_errors_name_keys() -> None:
    with pytest.raises(
        ConfigError, match=r"functions\.0\.options\.template: unknown fields \['rubric'\]"
    ):
        build(
            FunctionSpec(name="judge", options={"endpoint": "h:1", "template": "{rubric}"}),
            RewardContext(),
            "functions.0",
        )
    with pytest.raises(ConfigError, match=r"functions\.0\.options\.verdict_regex"):
        build(
            FunctionSpec(name="judge", options={"endpoint": "h:1", "verdict_regex": "("}),
            RewardContext(),
            "functions.0",
        )
    with pytest.raises(ConfigError, match=r"functions\.0\.options: endpoint: Field required"):
        build(FunctionSpec(name="judge"), RewardContext(), "functions.0")
