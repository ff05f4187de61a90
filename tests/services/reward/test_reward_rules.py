"""Format and length rewards against hand-computed values."""

from __future__ import annotations

import pytest

from yatt.config.loader import load_config
from yatt.errors import ConfigError, InvalidArgument
from yatt.services.reward.plugins.base import FunctionSpec, RewardContext, RewardSample
from yatt.services.reward.plugins.length_penalty import LengthPenalty, LengthPenaltyOptions
from yatt.services.reward.plugins.regex_format import RegexFormat, RegexFormatOptions
from yatt.services.reward.plugins.registry import build

pytestmark = pytest.mark.unit


def sample(completion: str, token_ids: tuple[int, ...] = ()) -> RewardSample:
    return RewardSample(id="s", prompt="p", completion=completion, completion_token_ids=token_ids)


THINK = r"<think>.+</think>\s*<answer>.+</answer>"


async def test_regex_fullmatch_over_lines() -> None:
    fn = RegexFormat(
        RegexFormatOptions(pattern=THINK, matched=0.5, unmatched=-0.5), RewardContext()
    )
    texts = [
        "<think>a\nb</think>\n<answer>19</answer>\n",  # DOTALL spans lines; strip drops the \n
        "<think>a</think><answer>19</answer> trailing",  # fullmatch refuses trailing text
        "<answer>19</answer>",
    ]
    assert [r.total for r in await fn.score([sample(t) for t in texts])] == [0.5, -0.5, -0.5]


async def test_regex_search_mode_and_flags() -> None:
    opts = RegexFormatOptions(pattern=r"answer:\s*\d+", mode="search", flags=["IGNORECASE"])
    fn = RegexFormat(opts, RewardContext())
    texts = ["so ANSWER: 4 done", "answer: four"]
    assert [r.total for r in await fn.score([sample(t) for t in texts])] == [1.0, 0.0]


def test_bad_regex_names_the_key() -> None:
    spec = FunctionSpec(name="regex_format", options={"pattern": "(unclosed"})
    with pytest.raises(ConfigError, match=r"functions\.2\.options\.pattern: not a valid"):
        build(spec, RewardContext(), "functions.2")


@pytest.mark.parametrize(
    ("n", "total"),
    [(0, 0.0), (6, 0.0), (7, -0.25), (8, -0.5), (10, -1.0), (50, -1.0)],
)
async def test_length_penalty_tokens(n: int, total: float) -> None:
    # free 6, max 10: each token past 6 costs 1/4 of the scale, capped at the max.
    fn = LengthPenalty(LengthPenaltyOptions(max_length=10, free_length=6), RewardContext())
    [result] = await fn.score([sample("x" * n, tuple(range(n)))])
    assert result.total == pytest.approx(total)
    assert result.details == {"length": n}


async def test_length_penalty_words_and_chars_scaled() -> None:
    words = LengthPenalty(
        LengthPenaltyOptions(unit="words", max_length=4, scale=2.0), RewardContext()
    )
    chars = LengthPenalty(LengthPenaltyOptions(unit="chars", max_length=20), RewardContext())
    text = "one two three"  # 3 words, 13 chars
    assert (await words.score([sample(text)]))[0].total == pytest.approx(-1.5)
    assert (await chars.score([sample(text)]))[0].total == pytest.approx(-13 / 20)


def test_length_penalty_needs_token_ids() -> None:
    fn = LengthPenalty(LengthPenaltyOptions(max_length=4), RewardContext())
    with pytest.raises(InvalidArgument, match=r"samples\.0\.completion_token_ids"):
        fn.check(sample("some text"), "samples.0")
    fn.check(sample(""), "samples.0")  # an empty completion has no tokens to give


def test_length_options_free_below_max() -> None:
    with pytest.raises(ConfigError, match="free_length must be below max_length"):
        load_config(LengthPenaltyOptions, data={"max_length": 4, "free_length": 4})


async def test_regex_runs_in_linear_time_over_hostile_text() -> None:
    """(a+)+b over 30 a's takes Python's backtracking engine minutes; RE2 answers at once."""
    fn = RegexFormat(RegexFormatOptions(pattern="(a+)+b", mode="search"), RewardContext())
    hostile = RewardSample(id="s", prompt="", completion="a" * 30 + "c")
    [result] = await fn.score([hostile])
    assert result.total == 0.0


async def test_regex_skips_completions_over_max_chars() -> None:
    fn = RegexFormat(RegexFormatOptions(pattern="a+", max_chars=10), RewardContext())
    results = await fn.score(
        [RewardSample(id=str(n), prompt="", completion="a" * n) for n in (10, 11)]
    )
    assert [r.total for r in results] == [1.0, 0.0]
