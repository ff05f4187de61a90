"""A discrete-event model of the RLHF pipeline on N slots, driven by the real placement core.

Items flow rollout -> reward -> reference with modelled service times; every tick the slots
publish load counters the way services do, and the real PlacementCore (estimator + policy)
decides moves. Used by bench/placement.py to compare policies at 16-64 slots on 2 cores.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from dataclasses import dataclass, field

from .config import PlacementConfig
from .core import PlacementCore
from .state import InstanceLoad

STAGES = ("rollout", "reward", "reference")


@dataclass(frozen=True)
class Phase:
    """A slice of the dataset and the seconds one slot spends per item in each role."""

    fraction: float
    seconds: dict[str, float]


@dataclass(frozen=True)
class WorkloadModel:
    phases: tuple[Phase, ...]
    items_per_slot: int = 100  # dataset size = items_per_slot x slots
    in_flight_per_slot: int = 4  # items the controllers keep in flight
    cv: float = 0.5  # spread of one item's service time (gamma), e.g. completion lengths
    switch_s: float = 20.0  # a moved slot: free the old model, load the new one, register
    tick_s: float = 1.0

    def phase_of(self, index: int, total: int) -> Phase:
        edge = 0.0
        for phase in self.phases:
            edge += phase.fraction
            if index < edge * total:
                return phase
        return self.phases[-1]


@dataclass
class SimSlot:
    role: str
    busy_until: float | None = None
    ready_at: float = 0.0  # serves nothing before (switching)
    next_role: str | None = None  # draining toward
    served: int = 0
    busy_since: float = 0.0
    busy_total: float = 0.0  # finished items' seconds
    busy_at_tick: float = 0.0

    def busy_seconds(self, now: float) -> float:
        running = now - self.busy_since if self.busy_until is not None else 0.0
        return self.busy_total + running


@dataclass
class SimResult:
    makespan: float
    idle: dict[str, float]  # per role: idle slot-seconds / slot-seconds held
    moves: int
    switch_fraction: float  # slot-seconds spent switching / all slot-seconds
    final: dict[str, int] = field(default_factory=dict)


def simulate(
    model: WorkloadModel, split: dict[str, int], cfg: PlacementConfig, seed: int = 0
) -> SimResult:
    """Runs the whole dataset through slots initially split as `split` under cfg's policy."""
    rng = random.Random(seed)
    core = PlacementCore(cfg)
    slots: list[SimSlot] = []
    for role, count in split.items():
        slots += [SimSlot(role) for _ in range(count)]
    assignments = {i: s.role for i, s in enumerate(slots)}
    total = model.items_per_slot * len(slots)
    queues: dict[str, deque[tuple[int, int]]] = {r: deque() for r in STAGES}
    events: list[tuple[float, int, str, int]] = []
    seq = itertools.count()
    held = {r: 0.0 for r in STAGES}  # slot-seconds each role held
    busy = {r: 0.0 for r in STAGES}
    switching = 0.0
    last_event = 0.0
    now = 0.0
    done = moves = 0
    next_item = 0
    last_move_at: float | None = None

    def service(item: int, stage: int) -> float:
        mean = model.phase_of(item, total).seconds[STAGES[stage]]
        if mean <= 0:
            return 0.0
        shape = 1.0 / (model.cv**2) if model.cv > 0 else 0.0
        return rng.gammavariate(shape, mean / shape) if shape else mean

    def dispatch() -> None:
        for i, slot in enumerate(slots):
            if slot.busy_until is not None or slot.next_role or slot.ready_at > now:
                continue
            queue = queues[slot.role]
            if queue:
                item, stage = queue.popleft()
                took = service(item, stage)
                slot.busy_until, slot.busy_since = now + took, now
                busy[slot.role] += took
                heapq.heappush(
                    events, (now + took, next(seq), "done", i * 10**9 + item * 4 + stage)
                )

    in_system = 0

    def admit() -> None:
        nonlocal next_item, in_system
        while next_item < total and in_system < model.in_flight_per_slot * len(slots):
            queues[STAGES[0]].append((next_item, 0))
            next_item += 1
            in_system += 1

    def account(until: float) -> None:
        nonlocal switching, last_event
        span = until - last_event
        for slot in slots:
            if slot.ready_at > last_event:
                switching += span
            else:
                held[slot.role] += span
        last_event = until

    admit()
    dispatch()
    heapq.heappush(events, (model.tick_s, next(seq), "tick", 0))
    while done < total:
        now, _, kind, data = heapq.heappop(events)
        account(now)
        if kind == "done":
            index, rest = divmod(data, 10**9)
            item, stage = divmod(rest, 4)
            slot = slots[index]
            slot.busy_total += now - slot.busy_since
            slot.busy_until = None
            slot.served += 1
            if slot.next_role:  # drained: now switch
                slot.role, slot.next_role, slot.served = slot.next_role, None, 0
                slot.busy_total = slot.busy_at_tick = 0.0
                slot.ready_at = now + model.switch_s
                heapq.heappush(events, (slot.ready_at, next(seq), "ready", index))
            if stage + 1 < len(STAGES):
                queues[STAGES[stage + 1]].append((item, stage + 1))
            else:
                done += 1
                in_system -= 1
                admit()
        elif kind == "tick":
            last_move_at, made = _tick(core, model, slots, assignments, queues, now, last_move_at)
            moves += made
            heapq.heappush(events, (now + model.tick_s, next(seq), "tick", 0))
        dispatch()
    slot_seconds = now * len(slots)
    return SimResult(
        makespan=now,
        idle={r: 1 - busy[r] / held[r] if held[r] else 0.0 for r in STAGES},
        moves=moves,
        switch_fraction=switching / slot_seconds if slot_seconds else 0.0,
        final={r: sum(1 for s in slots if s.role == r) for r in STAGES},
    )


def _tick(
    core: PlacementCore,
    model: WorkloadModel,
    slots: list[SimSlot],
    assignments: dict[int, str],
    queues: dict[str, deque[tuple[int, int]]],
    now: float,
    last_move_at: float | None,
) -> tuple[float | None, int]:
    """Publishes each serving slot's load, asks the core for moves, starts the switches."""
    serving = [i for i, s in enumerate(slots) if s.ready_at <= now and not s.next_role]
    per_role = {r: sum(1 for i in serving if slots[i].role == r) for r in STAGES}
    samples = []
    for i in serving:
        slot = slots[i]
        running = slot.busy_until is not None
        busy_now = slot.busy_seconds(now)
        window_busy, slot.busy_at_tick = busy_now - slot.busy_at_tick, busy_now
        samples.append(
            InstanceLoad(
                role=slot.role,
                instance=f"slot{i}-{slot.role}",
                time=now,
                queue_depth=len(queues[slot.role]) / max(1, per_role[slot.role]),
                in_flight=1.0 if running else 0.0,
                busy_fraction=min(1.0, max(0.0, window_busy / model.tick_s)),
                served=slot.served,
            )
        )
    workers = {
        i: {"state": "serving" if i in serving else "starting", "role": s.next_role or s.role}
        for i, s in enumerate(slots)
    }
    state = core.state(now, assignments, samples, workers, last_move_at)
    made = 0
    for move in core.plan(state):
        assignments[move.slot] = move.to_role
        slot = slots[move.slot]
        if slot.busy_until is None:
            slot.role, slot.served = move.to_role, 0
            slot.busy_total = slot.busy_at_tick = 0.0
            slot.ready_at = now + model.switch_s
        else:
            slot.next_role = move.to_role
        last_move_at = now
        made += 1
    return last_move_at, made
