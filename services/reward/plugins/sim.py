"""The `sim` reward: a clearly labelled stand-in whose service time follows a model.

For benchmarks of controllers and placement on machines that cannot host many real
reward models. It sleeps instead of computing (on the event loop: it holds no CPU), and
scores each sample 1 with probability `p_correct` (deterministic per sample id), so groups
have reward variance. Never a default: only a config naming `sim` selects it.

    seconds per Score call = base_s + per_sample_s(t) * samples

per_sample_s(t) follows `schedule`: [[t0, s0], [t1, s1], ...] seconds since start, so a
benchmark can make reward slow mid-job (a generative judge switched on).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence

from pydantic import Field

from yatt.config.loader import ConfigModel

from .base import RewardFunction, RewardResult, RewardSample


class SimOptions(ConfigModel):
    base_s: float = Field(0.002, ge=0, description="Fixed time per Score call, seconds.")
    per_sample_s: float = Field(0.001, ge=0, description="Time per sample, seconds.")
    schedule: list[tuple[float, float]] = Field(
        default_factory=list,
        description="[[seconds since start, per_sample_s], ...]: per-sample time changes.",
    )
    p_correct: float = Field(0.5, ge=0, le=1, description="Probability a sample scores 1.")


class SimReward(RewardFunction):
    name = "sim"
    Options = SimOptions

    async def start(self) -> None:
        self._started = time.monotonic()

    def per_sample_s(self) -> float:
        opts: SimOptions = self.options
        now = time.monotonic() - self._started
        current = opts.per_sample_s
        for since, value in sorted(opts.schedule):
            if now >= since:
                current = value
        return current

    async def score(self, samples: Sequence[RewardSample]) -> list[RewardResult]:
        opts: SimOptions = self.options
        await asyncio.sleep(opts.base_s + self.per_sample_s() * len(samples))
        out = []
        for sample in samples:
            digest = hashlib.blake2b(sample.id.encode() + sample.completion.encode(), digest_size=8)
            u = int.from_bytes(digest.digest(), "big") / 2**64
            out.append(RewardResult(total=1.0 if u < opts.p_correct else 0.0))
        return out
