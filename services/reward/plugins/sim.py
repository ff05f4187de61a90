"""The `sim` reward: a clearly labelled stand-in whose service time follows a model.

For benchmarks of controllers and placement on machines that cannot host many real
reward models. It sleeps instead of computing (on the event loop: it holds no CPU), and
scores each sample 1 with probability `p_correct` (deterministic per sample id), so groups
have reward variance. Never a default: only a config naming `sim` selects it.

    seconds per Score call = base_s + per_sample_s(t) * samples

per_sample_s(t) follows `schedule`: [[t0, s0], [t1, s1], ...] seconds since start, so a
benchmark can make reward slow mid-job (a generative judge switched on). `start_at` pins that
start to a wall-clock time shared by every reward process of a job, including ones placement
starts mid-job: 0 means the job start named by $YATT_JOB_START (a Unix time, or a file holding
one, which `yatt up` writes when it submits the job; until then the clock stands at 0).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from yatt.config.loader import ConfigModel
from yatt.defaults import JOB_START_ENV

from .base import RewardFunction, RewardResult, RewardSample

log = logging.getLogger(__name__)


class SimOptions(ConfigModel):
    base_s: float = Field(0.002, ge=0, description="Fixed time per Score call, seconds.")
    per_sample_s: float = Field(0.001, ge=0, description="Time per sample, seconds.")
    schedule: list[tuple[float, float]] = Field(
        default_factory=list,
        description="[[seconds since start, per_sample_s], ...]: per-sample time changes.",
    )
    p_correct: float = Field(0.5, ge=0, le=1, description="Probability a sample scores 1.")
    start_at: float | None = Field(
        None,
        ge=0,
        description="What `schedule` counts from: None = this process's start; a Unix time; "
        f"0 = the job start named by ${JOB_START_ENV} (this process's start if unset).",
    )


class SimReward(RewardFunction):
    name = "sim"
    Options = SimOptions

    async def start(self) -> None:
        opts: SimOptions = self.options
        self._started: float | None = time.time()
        self._start_file: Path | None = None
        if opts.start_at:
            self._started = opts.start_at
        elif opts.start_at == 0:
            value = os.environ.get(JOB_START_ENV, "")
            try:
                self._started = float(value)
            except ValueError:
                if value:
                    self._start_file, self._started = Path(value), None
                else:
                    log.warning("sim: $%s is not set; schedule counts from now", JOB_START_ENV)

    def elapsed(self) -> float:
        """Seconds on the schedule's clock (wall clock, so processes of one job agree)."""
        if self._started is None and self._start_file is not None:
            try:
                self._started = float(self._start_file.read_text())
            except (OSError, ValueError):
                return 0.0  # the job has not started yet
        return time.time() - (self._started or 0.0)

    def per_sample_s(self) -> float:
        opts: SimOptions = self.options
        now = self.elapsed()
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
