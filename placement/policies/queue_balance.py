"""The dynamic policy: move one slot from the unit with the most slack to the longest queue.

Expected wait of a unit = backlog work / slots. A move is made only when it shortens the
pipeline's longest expected wait by more than `threshold`, after `cooldown_s` since the last.
"""

from __future__ import annotations

from dataclasses import replace

from pydantic import Field

from ..state import Move, PlacementState
from .base import PlacementPolicy, PolicyOptions


class QueueBalanceOptions(PolicyOptions):
    threshold: float = Field(
        0.2,
        ge=0,
        description="Least relative gain (0.2 = the longest expected wait among the units "
        "involved shrinks by 20%) that justifies a decision's moves.",
    )
    cooldown_s: float = Field(
        10.0, ge=0, description="Seconds after a move before the next may be made."
    )
    min_wait_s: float = Field(
        0.5,
        ge=0,
        description="A unit whose expected wait is below this never receives a slot (noise).",
    )
    wait_settled: bool = Field(
        True, description="Make no move while any worker is still switching roles."
    )
    max_utilization: float = Field(
        0.85,
        gt=0,
        le=1,
        description="A donor must stay at or below this utilization after giving up the slot, "
        "at the flow the pipeline reaches after the move, so it does not become the next "
        "bottleneck.",
    )
    max_moves: int = Field(
        1,
        ge=1,
        description="Moves per decision; each next one is planned as if the previous were made "
        "(large jobs shift many slots at a phase change).",
    )


class QueueBalancePolicy(PlacementPolicy):
    """Receiver: the unit with the longest expected wait. Donor: the unit with the most slack,
    i.e. the lowest busy fraction after giving up one slot (then the smallest expected wait),
    staying under max_utilization, above its minimum, never losing its last slot.
    """

    name = "queue_balance"
    Options = QueueBalanceOptions
    options: QueueBalanceOptions

    def plan(self, state: PlacementState) -> list[Move]:
        """Up to max_moves moves, each improving on the last; all or none, by their joint gain."""
        opts = self.options
        if state.last_move_at is not None and state.now - state.last_move_at < opts.cooldown_s:
            return []
        if opts.wait_settled and state.settling:
            return []
        moves: list[Move] = []
        current = state
        while len(moves) < opts.max_moves:
            move = self.best_move(current)
            if move is None:
                break
            moves.append(move)
            current = replace(current, assignments={**current.assignments, move.slot: move.to_role})
        if not moves:
            return []
        involved = {m.from_role for m in moves} | {m.to_role for m in moves}
        before = max(state.expected_wait(u) or 0.0 for u in involved)
        after = max(current.expected_wait(u) or 0.0 for u in involved)
        gain = (before - after) / before if before > 0 else 0.0
        if gain <= opts.threshold:
            return []
        note = f" (gain {gain:.0%} > threshold {opts.threshold:.0%})"
        return [replace(m, reason=m.reason + note) for m in moves]

    @staticmethod
    def _is_bottleneck(state: PlacementState, unit: str) -> bool:
        """True unless rates show another unit carries fewer items/s: then the queue here is a
        transient the pipeline will drain anyway, and more slots here would only idle."""
        mine = state.capacity(unit)
        others = [state.capacity(u) for u in state.units() if u != unit]
        known = [c for c in others if c is not None]
        return mine is None or not known or mine <= min(known)

    @staticmethod
    def _donor_load_after(state: PlacementState, receiver: str, donor: str) -> float:
        """The donor's utilization after the move, when the pipeline's flow rises to what the
        strengthened receiver (and every other unit) can carry. Every item visits every unit,
        so a unit idle only because an upstream bottleneck starves it is not counted as slack.
        Falls back to the measured busy fraction while a rate is unknown."""
        have = state.count(donor)
        per_item = state.item_seconds(donor)
        flows = [state.capacity(receiver, state.count(receiver) + 1)]
        flows += [state.capacity(u) for u in state.units() if u not in (receiver, donor)]
        known = [f for f in flows if f is not None]
        if per_item is None or not known:
            return state.busy(donor) * have / (have - 1)
        return min(known) * per_item / (have - 1)

    def best_move(self, state: PlacementState) -> Move | None:
        """The single move that most shortens the longer wait of the two units it touches."""
        opts = self.options
        waits = {u: state.expected_wait(u) for u in state.units()}
        receivers = [
            u
            for u, w in waits.items()
            if w is not None
            and w > opts.min_wait_s
            and state.count(u) < state.limits[u].max
            and self._is_bottleneck(state, u)
        ]
        if not receivers:
            return None
        receiver = max(receivers, key=lambda u: waits[u] or 0.0)
        wait_r = waits[receiver] or 0.0
        best: tuple[float, float, str, float] | None = None
        for donor in state.units():
            have = state.count(donor)
            if donor == receiver or have <= max(1, state.limits[donor].min):
                continue
            after = state.expected_wait(donor, have - 1)
            if after is None:
                continue  # backlog of unknown size: do not guess it is small
            load_after = self._donor_load_after(state, receiver, donor)
            if load_after > opts.max_utilization:
                continue
            candidate = (load_after, after, donor, waits[donor] or 0.0)
            if best is None or candidate[:2] < best[:2]:
                best = candidate
        if best is None:
            return None
        _, donor_after, donor, donor_wait = best
        receiver_after = state.expected_wait(receiver, state.count(receiver) + 1) or 0.0
        if max(receiver_after, donor_after) >= max(wait_r, donor_wait):
            return None  # the donor would become the new, worse bottleneck
        reason = (
            f"{receiver} expected wait {wait_r:.2f}s > {donor} {donor_wait:.2f}s; after the move "
            f"{receiver} {receiver_after:.2f}s, {donor} {donor_after:.2f}s"
        )
        return Move(
            slot=state.slots_of(donor)[-1],
            from_role=donor,
            to_role=receiver,
            reason=reason,
            time=state.now,
            queue_depths=state.queue_depths(),
        )
