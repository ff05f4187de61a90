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

from yatt.contracts import WorkerMember, WorkerState

from .config import PlacementConfig
from .core import PlacementCore
from .state import InstanceLoad, Move

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
    # Seconds a moved slot takes (after draining) to free the old model, load the new role's
    # and register, by the role it moves to; a role not named takes switch_default_s.
    switch_s: dict[str, float] = field(default_factory=dict)
    switch_default_s: float = 20.0
    tick_s: float = 1.0

    def switch_into(self, role: str) -> float:
        return self.switch_s.get(role, self.switch_default_s)

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
    held_since: float = 0.0  # when it began serving its current role

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
    # (time, from, to) of every move, for tracing what the policy did and when.
    trace: list[tuple[float, str, str]] = field(default_factory=list)


class _Sim:
    """One run: event queue, role queues, slots, and the slot-seconds each role held."""

    def __init__(
        self, model: WorkloadModel, split: dict[str, int], cfg: PlacementConfig, seed: int
    ):
        self.model, self.rng = model, random.Random(seed)
        self.core = PlacementCore(cfg)
        self.slots = [SimSlot(role) for role, count in split.items() for _ in range(count)]
        self.assignments = {i: s.role for i, s in enumerate(self.slots)}
        self.idle = {r: {i for i, s in enumerate(self.slots) if s.role == r} for r in STAGES}
        self.total = model.items_per_slot * len(self.slots)
        self.queues: dict[str, deque[tuple[int, int]]] = {r: deque() for r in STAGES}
        self.events: list[tuple[float, int, str, int, int]] = []
        self.seq = itertools.count()
        self.held = dict.fromkeys(STAGES, 0.0)  # slot-seconds each role held (serving)
        self.busy = dict.fromkeys(STAGES, 0.0)
        self.switching = 0.0
        self.now = 0.0
        self.done = self.next_item = self.in_system = 0
        self.last_move_at: float | None = None
        self.trace: list[tuple[float, str, str]] = []

    def push(self, at: float, kind: str, slot: int = 0, item: int = 0) -> None:
        heapq.heappush(self.events, (at, next(self.seq), kind, slot, item))

    def service(self, item: int, stage: int) -> float:
        mean = self.model.phase_of(item, self.total).seconds[STAGES[stage]]
        cv = self.model.cv
        if mean <= 0 or cv <= 0:
            return max(mean, 0.0)
        shape = 1.0 / cv**2
        return self.rng.gammavariate(shape, mean / shape)

    def dispatch(self) -> None:
        for role in STAGES:
            queue, idle = self.queues[role], self.idle[role]
            while queue and idle:
                i = idle.pop()
                item, stage = queue.popleft()
                took = self.service(item, stage)
                slot = self.slots[i]
                slot.busy_until, slot.busy_since = self.now + took, self.now
                self.busy[role] += took
                self.push(self.now + took, "done", i, item * 4 + stage)

    def admit(self) -> None:
        while self.next_item < self.total and self.in_system < (
            self.model.in_flight_per_slot * len(self.slots)
        ):
            self.queues[STAGES[0]].append((self.next_item, 0))
            self.next_item += 1
            self.in_system += 1

    def switch(self, i: int, role: str) -> None:
        """Slot i (idle now) leaves its role and serves `role` once the switch is over."""
        slot = self.slots[i]
        self.idle[slot.role].discard(i)
        if slot.ready_at > self.now:  # moved again before its last switch was over
            self.switching -= slot.ready_at - self.now
        else:
            self.held[slot.role] += self.now - slot.held_since
        slot.role, slot.next_role, slot.served = role, None, 0
        slot.busy_total = slot.busy_at_tick = 0.0
        slot.ready_at = slot.held_since = self.now + self.model.switch_into(role)
        self.switching += slot.ready_at - self.now
        self.push(slot.ready_at, "ready", i)

    def finish(self, i: int, data: int) -> None:
        item, stage = divmod(data, 4)
        slot = self.slots[i]
        slot.busy_total += self.now - slot.busy_since
        slot.busy_until = None
        slot.served += 1
        if slot.next_role:  # drained: now switch
            self.switch(i, slot.next_role)
        else:
            self.idle[slot.role].add(i)
        if stage + 1 < len(STAGES):
            self.queues[STAGES[stage + 1]].append((item, stage + 1))
        else:
            self.done += 1
            self.in_system -= 1
            self.admit()

    def run(self) -> SimResult:
        self.admit()
        self.dispatch()
        if self.core.policy_cfg.name != "static":  # a policy that never moves needs no readings
            self.push(self.model.tick_s, "tick")
        while self.done < self.total:
            self.now, _, kind, i, data = heapq.heappop(self.events)
            if kind == "done":
                self.finish(i, data)
            elif kind == "ready":
                if self.slots[i].ready_at == self.now:  # else a later move superseded it
                    self.idle[self.slots[i].role].add(i)
            else:
                self.tick()
                self.push(self.now + self.model.tick_s, "tick")
            self.dispatch()
        end = self.now
        for slot in self.slots:
            if slot.ready_at > end:  # still switching when the job ended
                self.switching -= slot.ready_at - end
            else:
                self.held[slot.role] += end - slot.held_since
        slot_seconds = end * len(self.slots)
        return SimResult(
            makespan=end,
            idle={r: 1 - self.busy[r] / h if (h := self.held[r]) else 0.0 for r in STAGES},
            moves=len(self.trace),
            switch_fraction=self.switching / slot_seconds if slot_seconds else 0.0,
            final={r: sum(1 for s in self.slots if s.role == r) for r in STAGES},
            trace=self.trace,
        )

    def tick(self) -> None:
        """Publishes each serving slot's load, asks the core for moves, starts the switches."""
        now, slots = self.now, self.slots
        serving = [i for i, s in enumerate(slots) if s.ready_at <= now and not s.next_role]
        per_role = {r: sum(1 for i in serving if slots[i].role == r) for r in STAGES}
        samples = []
        for i in serving:
            slot = slots[i]
            busy_now = slot.busy_seconds(now)
            window_busy, slot.busy_at_tick = busy_now - slot.busy_at_tick, busy_now
            samples.append(
                InstanceLoad(
                    role=slot.role,
                    instance=f"slot{i}-{slot.role}",
                    time=now,
                    queue_depth=len(self.queues[slot.role]) / max(1, per_role[slot.role]),
                    in_flight=1.0 if slot.busy_until is not None else 0.0,
                    busy_fraction=min(1.0, max(0.0, window_busy / self.model.tick_s)),
                    served=slot.served,
                )
            )
        workers = {
            i: WorkerMember(
                slot=i,
                role=s.next_role or s.role,
                state=WorkerState.SERVING if i in serving else WorkerState.STARTING,
            )
            for i, s in enumerate(slots)
        }
        state = self.core.state(now, self.assignments, samples, workers, self.last_move_at)
        made: list[Move] = self.core.plan(state)
        for move in made:
            self.assignments[move.slot] = move.to_role
            if slots[move.slot].busy_until is None:
                self.switch(move.slot, move.to_role)
            else:
                slots[move.slot].next_role = move.to_role
            self.last_move_at = now
            self.trace.append((now, move.from_role, move.to_role))


def simulate(
    model: WorkloadModel, split: dict[str, int], cfg: PlacementConfig, seed: int = 0
) -> SimResult:
    """Runs the whole dataset through slots initially split as `split` under cfg's policy."""
    return _Sim(model, split, cfg, seed).run()
