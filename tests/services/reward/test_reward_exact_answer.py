"""The exact-answer verifier on the answer formats models really write, against hand-checked values."""

from __future__ import annotations

import pytest

from yatt.errors import InvalidArgument
from yatt.services.reward.plugins.base import RewardContext, RewardSample
from yatt.services.reward.plugins.exact_answer import ExactAnswer, ExactAnswerOptions
from yatt.tasks.answers import extract, to_number

pytestmark = pytest.mark.unit


def verifier(**options: object) -> ExactAnswer:
    return ExactAnswer(ExactAnswerOptions(**options), RewardContext())


def sample(completion: str, answer: object = "19") -> RewardSample:
    return RewardSample(id="s", prompt="7+12=", completion=completion, metadata={"answer": answer})


@pytest.mark.parametrize(
    ("completion", "extracted"),
    [
        ("19", "19"),
        ("= 19.", "19"),
        ("the answer is 19", "19"),
        ("The answer is 19 apples, since 2+17", "19"),
        ("\\boxed{19}", "19"),
        ("first 3, then \\boxed{19} and 7 more words", "19"),
        ("19.0", "19.0"),
        ("x = -19", "-19"),
        ("5 \u2212 24 = \u221219", "-19"),
        ("So 3 - 19 = -16. Answer: -16", "-16"),
        ("#### 72", "72"),
        ("1,234 apples", "1,234"),
        ("The answer is $\\frac{1}{2}$.", "1/2"),
        ("\\boxed{\\frac{3}{4}}", "3/4"),
        ("2x = 10", "10"),
        ("no number here", None),
        ("", None),
        ("version 1.2.3", None),
    ],
)
def test_extract(completion: str, extracted: str | None) -> None:
    assert extract(completion, "auto") == extracted


@pytest.mark.parametrize(
    ("text", "value"),
    [("19", 19.0), ("-19", -19.0), ("19.0", 19.0), ("1,234", 1234.0), ("1/4", 0.25),
     ("\\frac{3}{4}", 0.75), ("$5$", 5.0), ("50%", 50.0), ("1e3", 1000.0), ("1/0", None),
     ("x+1", None)],
)  # fmt: skip
def test_to_number(text: str, value: float | None) -> None:
    assert to_number(text) == value


@pytest.mark.parametrize(
    ("completion", "answer", "total"),
    [
        ("19", "19", 1.0),
        ("= 19.", "19", 1.0),
        ("the answer is 19", 19, 1.0),
        ("\\boxed{19}", "19", 1.0),
        ("19.0", "19", 1.0),
        ("19.0000001", 19, 1.0),  # inside rel_tol 1e-6
        ("19.1", "19", 0.0),
        ("-19", "-19", 1.0),
        ("-19", "19", 0.0),
        ("x = -19", -19, 1.0),
        ("no number here", "19", 0.0),
        ("\\boxed{\\frac{3}{4}}", "0.75", 1.0),
        ("The answer is 1,234.", "1234", 1.0),
        ("\\boxed{Paris}", "paris", 1.0),  # non-numbers compare as normalized text
        ("20 then 19", "20", 0.0),  # the last number is the answer
    ],
)
async def test_score(completion: str, answer: object, total: float) -> None:
    [result] = await verifier().score([sample(completion, answer)])
    assert result.total == total


async def test_boxed_mode_ignores_bare_numbers_and_custom_scores() -> None:
    fn = verifier(extract="boxed", correct=2.0, incorrect=-1.0)
    results = await fn.score([sample("19"), sample("\\boxed{19}"), sample("\\boxed{18}")])
    assert [r.total for r in results] == [-1.0, 2.0, -1.0]
    assert results[0].details == {"extracted": None, "reference": "19"}


async def test_hostile_numbers_neither_stall_nor_fail_the_batch() -> None:
    """ "1e2000000/1" built a two-million-digit integer under the GIL; "1e400/1" raised
    OverflowError and failed every sample of the batch."""
    hostile = ["1e2000000/1", "1e400/1", "1e400", "9" * 5000, "1/1e-400"]
    results = await verifier().score([sample(text) for text in hostile] + [sample("19")])
    assert [r.total for r in results] == [0.0] * len(hostile) + [1.0]
    assert all(to_number(text) is None for text in hostile)


def test_missing_answer_is_invalid_argument() -> None:
    fn = verifier(answer_key="solution")
    with pytest.raises(InvalidArgument, match=r"samples\.3\.metadata: missing 'solution'"):
        fn.check(sample("19"), "samples.3")
    fn.check(RewardSample(id="s", prompt="", completion="", metadata={"solution": 1}), "x")
