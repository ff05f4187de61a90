"""Format reward: a fixed score when the completion matches a regular expression.

Typical use: reward "<think>...</think><answer>...</answer>" layouts in reasoning RL.
Patterns run on RE2 (google-re2), which matches in time linear in the text: a user pattern
such as (a+)+b cannot backtrack catastrophically over a hostile completion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import re2
from pydantic import Field

from yatt.config.loader import ConfigModel
from yatt.errors import ConfigError

from .base import BlockingRewardFunction, RewardContext, RewardResult, RewardSample

Flag = Literal["IGNORECASE", "DOTALL", "MULTILINE"]
# Python's flag names, applied as RE2 inline flags.
FLAGS = {"IGNORECASE": "i", "DOTALL": "s", "MULTILINE": "m"}


def _dotall() -> list[Flag]:
    return ["DOTALL"]


class RegexFormatOptions(ConfigModel):
    pattern: str = Field(
        ...,
        description="Regular expression (RE2 syntax: Python's without backreferences or "
        "lookaround) the completion must match.",
    )
    mode: Literal["search", "match", "fullmatch"] = Field(
        "fullmatch", description="search: anywhere; match: at the start; fullmatch: all of it."
    )
    flags: list[Flag] = Field(default_factory=_dotall, description="Flags applied to the pattern.")
    max_chars: int = Field(
        100_000, gt=0, description="Longer completions score `unmatched` without matching."
    )
    strip: bool = Field(True, description="Strip surrounding whitespace before matching.")
    matched: float = Field(1.0, description="Score when the pattern matches.")
    unmatched: float = Field(0.0, description="Score when it does not.")


class RegexFormat(BlockingRewardFunction):
    name = "regex_format"
    Options = RegexFormatOptions

    def __init__(self, options: RegexFormatOptions, context: RewardContext) -> None:
        super().__init__(options, context)
        inline = "".join(FLAGS[flag] for flag in options.flags)
        settings = re2.Options()
        settings.log_errors = False
        try:
            self.regex = re2.compile(
                f"(?{inline}){options.pattern}" if inline else options.pattern, settings
            )
        except re2.error as exc:
            raise ConfigError(
                f"options.pattern: not a valid RE2 regular expression: {exc}"
            ) from None
        self.find = getattr(self.regex, options.mode)

    def score_sync(self, samples: Sequence[RewardSample]) -> list[RewardResult]:
        opts: RegexFormatOptions = self.options
        out = []
        for sample in samples:
            text = sample.completion.strip() if opts.strip else sample.completion
            ok = len(text) <= opts.max_chars and self.find(text) is not None
            out.append(RewardResult(total=opts.matched if ok else opts.unmatched))
        return out
