"""Length penalty: 0 up to a free length, then falling linearly to -1 at the maximum length.

This is DAPO's soft overlong punishment, scaled by `scale`; length is tokens, chars or words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field, model_validator

from yatt.config.loader import ConfigModel
from yatt.errors import InvalidArgument

from .base import BlockingRewardFunction, RewardResult, RewardSample


class LengthPenaltyOptions(ConfigModel):
    unit: Literal["tokens", "chars", "words"] = Field(
        "tokens", description="tokens: len(completion_token_ids); chars; words (whitespace split)."
    )
    max_length: int = Field(..., gt=0, description="Length at which the penalty reaches -scale.")
    free_length: int = Field(
        0, ge=0, description="Lengths up to this are not penalized; must be below max_length."
    )
    scale: float = Field(1.0, ge=0, description="Penalty at and beyond max_length is -scale.")

    @model_validator(mode="after")
    def _free_below_max(self) -> LengthPenaltyOptions:
        if self.free_length >= self.max_length:
            raise ValueError("free_length must be below max_length")
        return self


def length_of(sample: RewardSample, unit: str) -> int:
    if unit == "tokens":
        return len(sample.completion_token_ids)
    if unit == "chars":
        return len(sample.completion)
    return len(sample.completion.split())


class LengthPenalty(BlockingRewardFunction):
    name = "length_penalty"
    Options = LengthPenaltyOptions

    def check(self, sample: RewardSample, where: str) -> None:
        if self.options.unit == "tokens" and sample.completion and not sample.completion_token_ids:
            raise InvalidArgument(
                f"{where}.completion_token_ids: empty, but length_penalty counts tokens"
            )

    def score_sync(self, samples: Sequence[RewardSample]) -> list[RewardResult]:
        opts: LengthPenaltyOptions = self.options
        span = opts.max_length - opts.free_length
        out = []
        for sample in samples:
            n = length_of(sample, opts.unit)
            over = min(max(n - opts.free_length, 0), span) / span
            out.append(RewardResult(total=-opts.scale * over, details={"length": n}))
        return out
