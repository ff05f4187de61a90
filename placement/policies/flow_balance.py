"""The flow policy: move slots toward the split where every unit carries the same items/s.

Every item visits every unit, so the pipeline runs at its slowest unit's capacity (slots / the
slot-seconds one item costs there). From measured rates this policy computes the split that
maximizes that minimum, and moves several slots at once toward it when the pipeline's capacity
rises by more than `threshold`. Queues alone mislead here: in a job that keeps a fixed number
of items in flight, the whole backlog piles up before the bottleneck whatever its size, so
the wait rule (queue_balance) overshoots at a phase change and under-moves once the queue is
spread thin. Until every rate is measured it falls back to the wait rule.
"""

from __future__ import annotations

from dataclasses import replace

from pydantic import Field

from ..state import Move, PlacementState
from .queue_balance import QueueBalanceOptions, QueueBalancePolicy


class FlowBalanceOptions(QueueBalanceOptions):
    max_moves: int = Field(
        4,
        ge=1,
        description="Moves per decision toward the balanced split (a phase change in a large "
        "job shifts many slots; moving them one cool-down at a time wastes the phase).",
    )
    threshold: float = Field(
        0.15,
        ge=0,
        description="Least relative rise of the pipeline's capacity (items/s of its slowest "
        "unit) that justifies a decision's moves; it must exceed the rates' noise (0.1 let "
        "one-slot moves flip back and forth at 16 slots in bench/placement.py).",
    )


class FlowBalancePolicy(QueueBalancePolicy):
    """Receiver: the unit with the least capacity that is below its balanced share. Donor: the
    unit furthest above its share whose utilization at the new flow stays <= max_utilization.
    Never below a unit's minimum or its last slot, never above its maximum."""

    name = "flow_balance"
    Options = FlowBalanceOptions
    options: FlowBalanceOptions

    def plan(self, state: PlacementState) -> list[Move]:
        if any(state.item_seconds(u) is None for u in state.units()):
            return super().plan(state)  # rates not all measured yet: the wait rule decides
        opts = self.options
        if state.last_move_at is not None and state.now - state.last_move_at < opts.cooldown_s:
            return []
        if opts.wait_settled and state.settling:
            return []
        target = self.balanced_split(state)
        counts = {u: state.count(u) for u in state.units()}
        moves: list[Move] = []
        current = state
        while len(moves) < opts.max_moves:
            move = self._next_move(current, counts, target)
            if move is None:
                break
            moves.append(move)
            counts[move.from_role] -= 1
            counts[move.to_role] += 1
            current = replace(current, assignments={**current.assignments, move.slot: move.to_role})
        before, after = self.flow(state), self.flow(current)
        gain = after / before - 1 if before > 0 else 0.0
        if not moves or gain <= opts.threshold:
            return []
        note = (
            f" (pipeline {before:.2f} -> {after:.2f} items/s, gain {gain:.0%} > threshold "
            f"{opts.threshold:.0%}; balanced split {target})"
        )
        return [replace(m, reason=m.reason + note) for m in moves]

    @staticmethod
    def flow(state: PlacementState) -> float:
        """Items/s the pipeline carries: its slowest unit's capacity."""
        return min(state.capacity(u) or 0.0 for u in state.units())

    @staticmethod
    def balanced_split(state: PlacementState) -> dict[str, int]:
        """The split of the same slots with the largest slowest-unit capacity: each unit starts
        at its floor, then every spare slot goes to the unit that is slowest at that point."""
        units = state.units()
        split = {u: max(1, state.limits[u].min) for u in units}
        spare = len(state.assignments) - sum(split.values())
        per_item = {u: state.item_seconds(u) or 0.0 for u in units}
        while spare > 0:
            open_units = [u for u in units if split[u] < state.limits[u].max]
            if not open_units:
                break
            slowest = min(open_units, key=lambda u: split[u] / per_item[u] if per_item[u] else 1e18)
            split[slowest] += 1
            spare -= 1
        return split

    def _next_move(
        self, state: PlacementState, counts: dict[str, int], target: dict[str, int]
    ) -> Move | None:
        short = [u for u in state.units() if counts[u] < target[u]]
        if not short:
            return None
        receiver = min(short, key=lambda u: state.capacity(u) or 0.0)
        donors = []
        for donor in state.units():
            have = counts[donor]
            if donor == receiver or have <= max(1, state.limits[donor].min, target[donor]):
                continue
            after = {**counts, receiver: counts[receiver] + 1, donor: have - 1}
            new_flow = min(state.capacity(u, after[u]) or 0.0 for u in state.units())
            load_after = new_flow * (state.item_seconds(donor) or 0.0) / (have - 1)
            if load_after <= self.options.max_utilization + 1e-9:  # exact balance is allowed
                donors.append((have - target[donor], -load_after, donor))
        if not donors:
            return None
        _, _, donor = max(donors)
        reason = (
            f"{receiver} carries {state.capacity(receiver):.2f} items/s on {counts[receiver]} "
            f"slots (share {target[receiver]}); {donor} holds {counts[donor]} "
            f"(share {target[donor]})"
        )
        settled = [s for s in state.slots_of(donor) if s not in state.settling]
        return Move(
            slot=(settled or state.slots_of(donor))[-1],  # a settled slot switches soonest
            from_role=donor,
            to_role=receiver,
            reason=reason,
            time=state.now,
            queue_depths=state.queue_depths(),
        )
