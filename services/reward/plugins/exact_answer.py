"""Exact-answer verifier for math and arithmetic: the final answer in the completion is
compared with metadata["answer"], numerically when both sides are numbers (yatt.tasks.answers,
which the task evaluation uses too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from yatt.config.loader import ConfigModel
from yatt.tasks.answers import extract, same_answer

from .base import BlockingRewardFunction, RewardResult, RewardSample


class ExactAnswerOptions(ConfigModel):
    answer_key: str = Field("answer", description="Metadata key holding the reference answer.")
    extract: Literal["auto", "boxed", "last_number"] = Field(
        "auto",
        description="auto: last \\boxed{}, else 'answer is X', else the last number; "
        "boxed: only \\boxed{}; last_number: the last number in the text.",
    )
    rel_tol: float = Field(1e-6, ge=0, description="Relative tolerance of the numeric compare.")
    abs_tol: float = Field(1e-9, ge=0, description="Absolute tolerance of the numeric compare.")
    correct: float = Field(1.0, description="Score of a correct answer.")
    incorrect: float = Field(0.0, description="Score of a wrong or missing answer.")


class ExactAnswer(BlockingRewardFunction):
    name = "exact_answer"
    Options = ExactAnswerOptions

    @property
    def required_metadata(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.options.answer_key,)

    def score_sync(self, samples: Sequence[RewardSample]) -> list[RewardResult]:
        opts: ExactAnswerOptions = self.options
        out = []
        for sample in samples:
            reference = sample.metadata[opts.answer_key]
            given = extract(sample.completion, opts.extract)
            ok = given is not None and same_answer(given, reference, opts.rel_tol, opts.abs_tol)
            out.append(
                RewardResult(
                    total=opts.correct if ok else opts.incorrect,
                    details={"extracted": given, "reference": str(reference)},
                )
            )
        return out
