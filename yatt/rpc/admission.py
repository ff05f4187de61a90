"""Bounded admission of RPCs: a fixed number execute, a bounded number wait, the rest are refused.

The gate is also where a server's load is measured (queue depth, in-flight, busy
fraction, tokens/s) for placement and for Prometheus, and where draining waits for in-flight work.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from yatt import metrics
from yatt.errors import ResourceExhausted, Unavailable


@dataclass(frozen=True)
class LoadSnapshot:
    """What a server publishes about its load (etcd key load/<role>/<instance>)."""

    queue_depth: int
    in_flight: int
    busy_fraction: float
    tokens_per_s: float
    served: int
    refused: int

    def as_dict(self) -> dict[str, float]:
        return {
            "queue_depth": self.queue_depth,
            "in_flight": self.in_flight,
            "busy_fraction": self.busy_fraction,
            "tokens_per_s": self.tokens_per_s,
            "served": self.served,
            "refused": self.refused,
        }


class AdmissionGate:
    """At most max_concurrency RPCs run and max_queue wait; beyond that RESOURCE_EXHAUSTED."""

    def __init__(self, max_concurrency: int, max_queue: int, name: str | None = None) -> None:
        self.name = name
        self.max_concurrency = max_concurrency
        self.max_queue = max_queue
        self._slots = asyncio.Semaphore(max_concurrency)
        self.waiting = 0
        self.in_flight = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()
        # Extra queued work a core reports (e.g. prompts waiting inside one batch RPC).
        self.queued_items = 0
        self.served = 0
        self.refused = 0
        self._busy_total = 0.0
        self._busy_since: float | None = None
        self._tokens = 0
        self._window_start = time.monotonic()
        self._window_busy = 0.0
        if name is not None:
            # Scrapes read the live values; the gate itself stays free of metric bookkeeping.
            metrics.bind_gauge(
                metrics.QUEUE_DEPTH, (name,), self, lambda g: g.waiting + g.queued_items
            )
            metrics.bind_gauge(metrics.IN_FLIGHT, (name,), self, lambda g: g.in_flight)

    def _refuse(self, reason: str) -> None:
        self.refused += 1
        if self.name is not None:
            metrics.RPC_REFUSED.labels(self.name, reason).inc()

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        if self.draining:
            self._refuse("draining")
            raise Unavailable("server is draining; retry on another instance")
        if self.waiting + self.in_flight >= self.max_concurrency + self.max_queue:
            self._refuse("queue_full")
            raise ResourceExhausted(
                f"queue full: {self.in_flight} running, {self.waiting} waiting "
                f"(max_concurrency={self.max_concurrency}, max_queue={self.max_queue})"
            )
        self.waiting += 1
        self._idle.clear()
        try:
            await self._slots.acquire()
        except BaseException:
            self.waiting -= 1
            self._maybe_idle()
            raise
        self.waiting -= 1
        self._enter()
        try:
            yield
        finally:
            self._exit()
            self._slots.release()

    def _enter(self) -> None:
        if self.in_flight == 0:
            self._busy_since = time.monotonic()
        self.in_flight += 1

    def _exit(self) -> None:
        self.in_flight -= 1
        self.served += 1
        if self.in_flight == 0 and self._busy_since is not None:
            self._busy_total += time.monotonic() - self._busy_since
            self._busy_since = None
        self._maybe_idle()

    def _maybe_idle(self) -> None:
        if self.in_flight == 0 and self.waiting == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float | None) -> bool:
        """Waits until nothing runs or waits; False if the timeout passed first."""
        if self._idle.is_set():
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    def record_tokens(self, n: int) -> None:
        self._tokens += n
        if self.name is not None:
            metrics.TOKENS.labels(self.name).inc(n)

    def _busy_seconds(self, now: float) -> float:
        running = now - self._busy_since if self._busy_since is not None else 0.0
        return self._busy_total + running

    def snapshot(self) -> LoadSnapshot:
        """Load since the previous snapshot (busy fraction and tokens/s are per window)."""
        now = time.monotonic()
        span = max(now - self._window_start, 1e-6)
        busy = self._busy_seconds(now)
        snap = LoadSnapshot(
            queue_depth=self.waiting + self.queued_items,
            in_flight=self.in_flight,
            busy_fraction=min(1.0, (busy - self._window_busy) / span),
            tokens_per_s=self._tokens / span,
            served=self.served,
            refused=self.refused,
        )
        self._window_start, self._window_busy, self._tokens = now, busy, 0
        if self.name is not None:
            metrics.TOKENS_PER_S.labels(self.name).set(snap.tokens_per_s)
            metrics.BUSY_FRACTION.labels(self.name).set(snap.busy_fraction)
        return snap
