"""Turns the load counters services publish into per-role aggregates with a service rate.

Services publish cumulative `served` counts and a per-window busy fraction; the rate one slot
achieves while busy is ΣΔserved / Σ(Δt × busy) over a role's instances in a sliding window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from .config import EstimatorConfig
from .state import InstanceLoad, RoleLoad

# How much a new measurement moves a role's remembered rate.
EMA = 0.5


class LoadEstimator:
    """Keeps a short history per instance; `observe` returns the current RoleLoad per role."""

    def __init__(self, cfg: EstimatorConfig | None = None) -> None:
        self.cfg = cfg or EstimatorConfig()
        self._history: dict[tuple[str, str], deque[InstanceLoad]] = {}
        self._rates: dict[str, float] = dict(self.cfg.prior_rates)

    def rate(self, role: str) -> float | None:
        return self._rates.get(role)

    def _instance_rate(self, samples: deque[InstanceLoad]) -> tuple[float, float, float] | None:
        """(served, busy seconds, seconds spanned), or None if not measurable yet."""
        first, last = samples[0], samples[-1]
        span = last.time - first.time
        if span <= 0:
            return None
        busy = sum(s.busy_fraction for s in list(samples)[1:]) / (len(samples) - 1)
        done = max(0.0, last.served - first.served)
        return done, span * busy, span

    def observe(self, samples: Iterable[InstanceLoad]) -> dict[str, RoleLoad]:
        """Adds one reading of every live instance; instances absent from it are forgotten."""
        seen: set[tuple[str, str]] = set()
        for sample in samples:
            key = (sample.role, sample.instance)
            seen.add(key)
            history = self._history.setdefault(key, deque())
            if history and sample.served < history[-1].served:
                history.clear()  # counter reset: a restarted process reusing the name
            history.append(sample)
            while len(history) > 2 and sample.time - history[1].time >= self.cfg.window_s:
                history.popleft()
        for key in set(self._history) - seen:
            del self._history[key]
        by_role: dict[str, list[deque[InstanceLoad]]] = {}
        for (role, _), history in self._history.items():
            by_role.setdefault(role, []).append(history)
        out = {}
        for role, histories in by_role.items():
            self._update_rate(role, histories)
            latest = [h[-1] for h in histories]
            out[role] = RoleLoad(
                role=role,
                instances=len(latest),
                queue_depth=sum(s.queue_depth for s in latest),
                in_flight=sum(s.in_flight for s in latest),
                busy_fraction=sum(s.busy_fraction for s in latest) / len(latest),
                tokens_per_s=sum(s.tokens_per_s for s in latest),
                rate_per_slot=self._rates.get(role),
            )
        return out

    def _update_rate(self, role: str, histories: list[deque[InstanceLoad]]) -> None:
        measured = [m for h in histories if len(h) >= 2 and (m := self._instance_rate(h))]
        if not measured:
            return
        # Pooled over instances (a ratio of sums): one slot finishes only a few long items per
        # window, so its own rate is coarse; the role's total is not. The busy floor applies to
        # the pool too (in slots): many slots each a little busy with fast items (a rule
        # reward) still measure a sound rate.
        busy_s = sum(busy for _, busy, _ in measured)
        if busy_s < max(self.cfg.busy_floor, 1e-6) * max(span for _, _, span in measured):
            return
        rate = sum(done for done, _, _ in measured) / busy_s
        if rate <= 0:
            # Busy for a whole window with nothing finished: slower than one per window.
            span = max(span for _, _, span in measured)
            old = self._rates.get(role)
            rate = min(old, 1.0 / span) if old else 1.0 / span
            self._rates[role] = rate
            return
        old = self._rates.get(role)
        self._rates[role] = rate if old is None else EMA * rate + (1 - EMA) * old
