"""The placement record of a run: the move history from etcd replayed into per-slot spans.

The report's placement.png draws one horizontal bar per slot, colored by the role it served.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from yatt.placement.state import Move

# Span = (start, end, unit) in Unix seconds.
Span = tuple[float, float, str]


@dataclass
class PlacementRecord:
    """Initial and final slot maps and the moves between them, over [start, end]."""

    start: float
    end: float
    final: dict[int, str]
    moves: list[Move] = field(default_factory=list)

    @property
    def initial(self) -> dict[int, str]:
        """The map before the first move: undo the moves, newest first."""
        out = dict(self.final)
        for move in reversed(self.moves):
            out[move.slot] = move.from_role
        return out

    def maps(self) -> list[tuple[float, dict[int, str]]]:
        """(time, map) at the start and after every move."""
        current = self.initial
        out = [(self.start, dict(current))]
        for move in self.moves:
            current[move.slot] = move.to_role
            out.append((move.time, dict(current)))
        return out

    def spans(self) -> dict[int, list[Span]]:
        """slot -> consecutive (start, end, unit) spans covering [start, end]."""
        out: dict[int, list[Span]] = {}
        opened = {slot: (self.start, unit) for slot, unit in self.initial.items()}
        for move in self.moves:
            since, unit = opened.get(move.slot, (self.start, move.from_role))
            at = min(max(move.time, since), self.end)
            out.setdefault(move.slot, []).append((since, at, unit))
            opened[move.slot] = (at, move.to_role)
        for slot, (since, unit) in opened.items():
            out.setdefault(slot, []).append((since, max(since, self.end), unit))
        return dict(sorted(out.items()))

    def summary(self) -> dict[str, Any]:
        return {
            "initial": {str(s): u for s, u in sorted(self.initial.items())},
            "final": {str(s): u for s, u in sorted(self.final.items())},
            "history": [
                {
                    "t": round(m.time - self.start, 2),
                    "slot": m.slot,
                    "from": m.from_role,
                    "to": m.to_role,
                    "reason": m.reason,
                }
                for m in self.moves
            ],
        }


async def read_record(endpoint: str, job: str, start: float, end: float) -> PlacementRecord:
    """The job's slot map and move history as etcd holds them now."""
    from yatt.config.common import EtcdConfig
    from yatt.coordination.client import connect
    from yatt.placement.history import read_history
    from yatt.placement.store import read_assignments

    client = await connect(EtcdConfig(endpoint=endpoint))
    try:
        final = await read_assignments(client, job)
        moves = await read_history(client, job)
    finally:
        await client.close()
    return PlacementRecord(start=start, end=end, final=final, moves=moves)


COLORS = {"rollout": "tab:blue", "reward": "tab:orange", "reference": "tab:green"}


def draw(ax: Any, record: PlacementRecord) -> None:
    """One bar per slot on ax, x = seconds since the run started, colored by role."""
    spans = record.spans()
    units = sorted({u for rows in spans.values() for _, _, u in rows})
    palette = {u: COLORS.get(u, f"C{3 + i}") for i, u in enumerate(units)}
    for slot, rows in spans.items():
        bars = [(a - record.start, max(b - a, 1e-3)) for a, b, _ in rows]
        ax.broken_barh(bars, (slot - 0.4, 0.8), facecolors=[palette[u] for *_, u in rows])
    for move in record.moves:
        ax.plot(move.time - record.start, move.slot, marker="v", color="black", markersize=6)
    if units:
        from matplotlib.patches import Patch

        handles = [Patch(color=palette[u], label=u) for u in units]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_yticks(list(spans), [f"slot {s}" for s in spans])
    ax.set_xlim(0, max(record.end - record.start, 1.0))
    ax.set(
        title=f"placement timeline (moves: {len(record.moves)})",
        xlabel="seconds since the job started",
    )
