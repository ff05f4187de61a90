"""The controller's view of one sample as it moves through rollout, reward and reference."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Sample:
    """One completion of one prompt, filled in stage by stage."""

    prompt_id: str
    index: int
    group: int  # samples of the same prompt share a group
    prompt_text: str
    metadata: dict[str, Any]
    payload: bytes
    prompt_token_ids: list[int]
    token_ids: list[int]
    logprobs: list[float]
    text: str
    weight_version: int  # the policy weights rollout sampled it with
    finish_reason: str
    reward: float = 0.0
    components: dict[str, float] = field(default_factory=dict)
    ref_logprobs: list[float] | None = None

    @property
    def key(self) -> str:
        return f"{self.prompt_id}#{self.index}"

    @property
    def length(self) -> int:
        return len(self.prompt_token_ids) + len(self.token_ids)
