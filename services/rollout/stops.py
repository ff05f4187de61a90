"""Stop strings on detokenized text: cut the text before the first stop string and keep only the
tokens needed to produce it (vLLM's semantics), whichever engine generated them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def trim_at_stop(
    text: str, token_ids: Sequence[int], stops: Sequence[str], decode: Callable[[list[int]], str]
) -> tuple[str, int, bool]:
    """(text before the earliest stop string, tokens to keep, whether a stop string was found).

    The kept tokens are the shortest prefix whose text contains the stop string, so the token
    that completed it stays (the policy learns to emit it), and nothing sampled after it does.
    """
    hits = [(i, s) for s in stops if (i := text.find(s)) >= 0]
    if not hits:
        return text, len(token_ids), False
    at, stop = min(hits)
    lo, hi = 1, len(token_ids)
    while lo < hi:  # containment only grows with the prefix, so bisect on it
        mid = (lo + hi) // 2
        if stop in decode(list(token_ids[:mid])):
            hi = mid
        else:
            lo = mid + 1
    return text[:at], lo, True
