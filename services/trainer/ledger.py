"""The ledger of shard ids the trainer has taken: applied (with the step) or pending.

It is what makes PushExperience idempotent, and it is saved in every checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Ledger:
    """applied: shard id -> step that applied it; pending: accepted, waiting for the next step."""

    applied: dict[str, int] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    epoch: int = 0

    def __contains__(self, shard_id: str) -> bool:
        return shard_id in self.applied or shard_id in self.pending

    def state_of(self, shard_id: str) -> str | None:
        if shard_id in self.applied:
            return f"applied at step {self.applied[shard_id]}"
        if shard_id in self.pending:
            return "accepted, waiting for the next step"
        return None

    def add_pending(self, shard_id: str, epoch: int) -> None:
        self.pending.append(shard_id)
        self.epoch = max(self.epoch, epoch)

    def commit(self, step: int) -> list[str]:
        """Marks every pending shard applied at step; returns them."""
        done, self.pending = self.pending, []
        for shard_id in done:
            self.applied[shard_id] = step
        return done

    def to_dict(self) -> dict[str, Any]:
        return {"applied": dict(self.applied), "pending": list(self.pending), "epoch": self.epoch}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ledger:
        return cls(
            applied={str(k): int(v) for k, v in data.get("applied", {}).items()},
            pending=[str(s) for s in data.get("pending", [])],
            epoch=int(data.get("epoch", 0)),
        )
