"""Reading the final answer out of a completion and comparing it with the reference.

One definition of "correct" for the exact_answer reward plugin and for evaluating a model on a
task (yatt.tasks.evaluate), so evaluation measures what RL's reward sees.
"""

from __future__ import annotations

import math
import re
from typing import Any

_NUMBER = r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?(?:/\d+(?:\.\d+)?)?"
# A number not glued to letters, digits or dots ("x2", "2x", "1.2.3" are not answers).
NUMBER_RE = re.compile(rf"(?<![\w.]){_NUMBER}(?!\w|\.\d)")
FULL_NUMBER_RE = re.compile(rf"\s*{_NUMBER}\s*")
# "the answer is 19", "Answer: 19", "#### 19" (GSM8K style).
ANSWER_IS_RE = re.compile(r"(?:answer\s*(?:is|:|=)|####)\s*:?\s*([^\n]*)", re.IGNORECASE)
FRAC_RE = re.compile(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}")
# \frac of two plain numbers reads as one fraction "a/b", so it is found as one number.
NUMERIC_FRAC_RE = re.compile(r"\\[dt]?frac\{\s*(-?\d+)\s*\}\{\s*(\d+)\s*\}")


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), braces balanced; None if absent."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth, begin = 1, i
    while i < len(text):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[begin:i]
        i += 1
    return None


def normalize(text: str) -> str:
    """Strips the wrapping that does not change an answer: $, spaces, \\text{}, a final period."""
    text = text.replace("\u2212", "-").replace("$", "").replace("\\!", "").replace("\\,", "")
    text = re.sub(r"\\(?:text|mathrm|mbox)\{([^{}]*)\}", r"\1", text)
    text = FRAC_RE.sub(r"(\1)/(\2)", text)
    text = re.sub(r"\\left|\\right", "", text)
    return text.strip().rstrip(".").strip()


# No answer is written with more characters than this; longer text is not read as a number.
MAX_NUMBER_CHARS = 64


def to_number(text: str) -> float | None:
    """The finite value of a number written as "19", "-1,000", "19.0", "1/2", "(1)/(2)", "1e3".

    Parsed as floats, never as exact rationals: "1e2000000/1" would otherwise build a
    two-million-digit integer while holding the GIL, and "1e400" overflow.
    """
    if len(text) > 4 * MAX_NUMBER_CHARS:
        return None
    text = normalize(text).replace("(", "").replace(")", "")
    if text.endswith("%"):
        text = text[:-1]
    if len(text) > MAX_NUMBER_CHARS or not FULL_NUMBER_RE.fullmatch(text):
        return None
    num, _, den = text.strip().replace(",", "").partition("/")
    try:
        value = float(num) / float(den) if den else float(num)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def extract(text: str, mode: str) -> str | None:
    """The final answer written in a completion, or None when it gives none."""
    text = NUMERIC_FRAC_RE.sub(r"\1/\2", text.replace("\u2212", "-"))
    if mode in ("auto", "boxed"):
        boxed = last_boxed(text)
        if boxed is not None or mode == "boxed":
            return boxed
    if mode == "auto":
        said = ANSWER_IS_RE.findall(text)
        if said:
            numbers = NUMBER_RE.findall(normalize(said[-1]))
            return numbers[0] if numbers else normalize(said[-1]) or None
    numbers = NUMBER_RE.findall(normalize(text))
    return numbers[-1] if numbers else None


def same_answer(given: str, reference: Any, rel_tol: float, abs_tol: float) -> bool:
    """Numbers compare by value within tolerance; anything else by normalized text."""
    ref_text = str(reference)
    a, b = to_number(given), to_number(ref_text)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
    return normalize(given).replace(" ", "").lower() == normalize(ref_text).replace(" ", "").lower()
