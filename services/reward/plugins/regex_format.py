"""Format reward: a fixed score when the completion matches a regular expression.

Typical use: reward "<think>...</think><answer>...</answer>" layouts in reasoning RL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from yatt.config.loader import ConfigModel
from yatt.errors import ConfigError

from .base import BlockingRewardFunction, RewardContext, RewardResult, RewardSample

Flag = Literal["IGNORECASE", "DOTALL", "MULTILINE"]
FLAGS = {"IGNORECASE": re.IGNORECASE, "DOTALL": re.DOTALL, "MULTILINE": re.MULTILINE}


def _dotall() -> list[Flag]:
    return ["DOTALL"]


class RegexFormatOptions(ConfigModel):
    pattern: str = Field(..., description="Python regular expression the completion must match.")
    mode: Literal["search", "match", "fullmatch"] = Field(
        "fullmatch", description="search: anywhere; match: at the start; fullmatch: all of it."
    )
    flags: list[Flag] = Field(
        default_factory=_dotall, description="re flags applied to the pattern."
    )
    strip: bool = Field(True, description="Strip surrounding whitespace before matching.")
    matched: float = Field(1.0, description="Score when the pattern matches.")
    unmatched: float = Field(0.0, description="Score when it does not.")


class RegexFormat(BlockingRewardFunction):
    name = "regex_format"
    Options = RegexFormatOptions

    def __init__(self, options: RegexFormatOptions, context: RewardContext) -> None:
        super().__init__(options, context)
        flags = 0
        for flag in options.flags:
            flags |= FLAGS[flag]
        try:
            self.regex = re.compile(options.pattern, flags)
        except re.error as exc:
            raise ConfigError(f"options.pattern: not a valid regular expression: {exc}") from None
        self.find = getattr(self.regex, options.mode)

    def score_sync(self, samples: Sequence[RewardSample]) -> list[RewardResult]:
        opts: RegexFormatOptions = self.options
        out = []
        for sample in samples:
            text = sample.completion.strip() if opts.strip else sample.completion
            ok = self.find(text) is not None
            out.append(RewardResult(total=opts.matched if ok else opts.unmatched))
        return out
