"""Generative judge: asks a yatt RolloutService to grade each sample and parses its verdict.

A verdict that does not parse scores `fallback` and is reported in components and details.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

from pydantic import Field

from yatt.config.loader import ConfigModel
from yatt.defaults import MAX_MESSAGE_BYTES
from yatt.errors import (
    ConfigError,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
    YattError,
)
from yatt.services.rollout.client import RolloutClient
from yatt.services.rollout.core import GenerateRequest, PromptRequest
from yatt.services.rollout.engines.base import SamplingParams

from .base import RewardContext, RewardFunction, RewardResult, RewardSample

DEFAULT_TEMPLATE = (
    "Question: {prompt}\nReference answer: {answer}\nResponse: {completion}\n"
    "Grade the response from 0 to 1. Reply as 'score: X'.\n"
)
# First group: a number after "score:"; second: a yes/no word.
DEFAULT_VERDICT = r"(?i)score\s*[:=]\s*([-+]?\d*\.?\d+)|\b(yes|no)\b"
TEMPLATE_FIELDS = {"prompt", "completion", "answer"}


class JudgeOptions(ConfigModel):
    endpoint: str = Field(..., description="host:port of a yatt RolloutService that grades.")
    template: str = Field(
        DEFAULT_TEMPLATE, description="Grading prompt; fields {prompt}, {completion}, {answer}."
    )
    answer_key: str = Field("answer", description="Metadata key filling {answer}.")
    verdict_regex: str = Field(
        DEFAULT_VERDICT,
        description="Searched in the judge's text; the first matching group is the verdict.",
    )
    words: dict[str, float] = Field(
        default_factory=lambda: {"yes": 1.0, "no": 0.0},
        description="Scores of verdict words (matched case-insensitively).",
    )
    fallback: float = Field(0.0, description="Score when the verdict does not parse.")
    min_score: float | None = Field(None, description="Parsed scores are clamped to this floor.")
    max_score: float | None = Field(None, description="Parsed scores are clamped to this cap.")
    max_new_tokens: int = Field(32, gt=0, description="Tokens the judge may write.")
    temperature: float = Field(0.0, ge=0, description="0 is greedy, so grades repeat.")
    seed: int | None = Field(0, description="Sampling seed sent to the rollout service.")
    timeout_s: float = Field(120.0, gt=0, description="Deadline of one Generate call.")
    max_message_bytes: int = Field(MAX_MESSAGE_BYTES, gt=0, description="Channel message limit.")


def parse_verdict(text: str, regex: re.Pattern[str], words: dict[str, float]) -> float | None:
    """The score a verdict text gives, or None when the regex finds no usable verdict."""
    match = regex.search(text)
    if match is None:
        return None
    groups = [g for g in match.groups() if g is not None] or [match.group(0)]
    raw = groups[0].strip()
    lowered = {k.lower(): v for k, v in words.items()}
    if raw.lower() in lowered:
        return lowered[raw.lower()]
    try:
        return float(raw)
    except ValueError:
        return None


def _judge_error(exc: YattError, endpoint: str) -> YattError:
    """What the reward service reports for a failed judge call: busy and down stay retryable
    (a judge that timed out is down for the caller), a refused request is the caller's fault,
    anything else means the judge cannot grade now."""
    msg = f"judge at {endpoint}: {type(exc).__name__}: {exc}"
    if isinstance(exc, ResourceExhausted):
        return ResourceExhausted(msg)
    if isinstance(exc, Unavailable | DeadlineExceeded):
        return Unavailable(msg)
    if isinstance(exc, InvalidArgument):
        return InvalidArgument(msg)
    return FailedPrecondition(msg)


class Judge(RewardFunction):
    name = "judge"
    Options = JudgeOptions

    def __init__(self, options: JudgeOptions, context: RewardContext) -> None:
        super().__init__(options, context)
        fields = {f for _, f, _, _ in string.Formatter().parse(options.template) if f is not None}
        if fields - TEMPLATE_FIELDS:
            raise ConfigError(
                f"options.template: unknown fields {sorted(fields - TEMPLATE_FIELDS)}; "
                f"allowed: {sorted(TEMPLATE_FIELDS)}"
            )
        self.uses_answer = "answer" in fields
        try:
            self.regex = re.compile(options.verdict_regex)
        except re.error as exc:
            raise ConfigError(
                f"options.verdict_regex: not a valid regular expression: {exc}"
            ) from None
        self.rollout: RolloutClient | None = None

    @property
    def required_metadata(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.options.answer_key,) if self.uses_answer else ()

    async def start(self) -> None:
        self.rollout = RolloutClient.connect(self.options.endpoint, self.options.max_message_bytes)

    async def close(self) -> None:
        if self.rollout is not None:
            await self.rollout.close()
            self.rollout = None

    def grading_prompt(self, sample: RewardSample) -> str:
        answer = sample.metadata.get(self.options.answer_key, "")
        return self.options.template.format(
            prompt=sample.prompt, completion=sample.completion, answer=answer
        )

    async def score(self, samples: Sequence[RewardSample]) -> list[RewardResult]:
        opts: JudgeOptions = self.options
        assert self.rollout is not None, "score() before start()"
        request = GenerateRequest(
            prompts=[
                PromptRequest(id=str(i), text=self.grading_prompt(s)) for i, s in enumerate(samples)
            ],
            params=SamplingParams(
                temperature=opts.temperature,
                max_new_tokens=opts.max_new_tokens,
                n=1,
                seed=opts.seed,
            ),
        )
        texts: dict[int, str] = {}
        try:
            async for completion in self.rollout.generate(request, timeout_s=opts.timeout_s):
                texts[int(completion.prompt_id)] = completion.text
        except YattError as exc:
            raise _judge_error(exc, opts.endpoint) from None
        return [self._result(texts.get(i)) for i in range(len(samples))]

    def _result(self, text: str | None) -> RewardResult:
        opts: JudgeOptions = self.options
        value = None if text is None else parse_verdict(text, self.regex, opts.words)
        if value is None:
            return RewardResult(
                total=opts.fallback,
                components={"parse_failed": 1.0},
                details={"verdict": (text or "")[:1000], "parsed": False},
            )
        if opts.min_score is not None:
            value = max(value, opts.min_score)
        if opts.max_score is not None:
            value = min(value, opts.max_score)
        return RewardResult(
            total=value,
            components={"parse_failed": 0.0},
            details={"verdict": text[:1000] if text else "", "parsed": True},
        )
