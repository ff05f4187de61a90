"""The RewardFunction interface and the plain domain types every reward plugin works with.

Plugins see dataclasses, never protobuf, so a plugin is testable without a server.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import Field

from yatt.config.loader import ConfigModel
from yatt.errors import InvalidArgument


@dataclass(frozen=True)
class RewardSample:
    """One completion to score, with the metadata (e.g. the reference answer) it came with."""

    id: str
    prompt: str
    completion: str
    metadata: dict[str, Any] = field(default_factory=dict)
    payload: bytes = b""
    completion_token_ids: tuple[int, ...] = ()


@dataclass
class RewardResult:
    """A score: the total, its named components, and free-form details (msgpack-able)."""

    total: float
    components: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


class FunctionSpec(ConfigModel):
    """One configured reward function: which plugin, its weight in the sum, its options."""

    name: str = Field(..., description="Plugin name as registered in the yatt.rewards group.")
    weight: float = Field(1.0, description="Weight of this function's total in the sum.")
    label: str | None = Field(
        None, description="Component name in replies (default: name); must be unique."
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Plugin options, validated by the plugin's Options."
    )

    @property
    def component(self) -> str:
        return self.label or self.name


class NoOptions(ConfigModel):
    """Options of a plugin that takes none."""


@dataclass
class RewardContext:
    """What a plugin may use besides its options: the executor for blocking work, a builder."""

    executor: Executor | None = None
    # Builds a child function from a spec; `key` is the config path used in error messages.
    build: Callable[[FunctionSpec, str], RewardFunction] | None = None


class RewardFunction(ABC):
    """A reward function. Subclasses set `name` and `Options` and implement `score`.

    `score` gets a non-empty batch that passed `check` and returns one result per sample,
    in order. Work that holds the CPU for long belongs in a BlockingRewardFunction.
    """

    name: ClassVar[str]
    Options: ClassVar[type[ConfigModel]] = NoOptions
    # Metadata keys every sample must carry; a missing one is INVALID_ARGUMENT.
    required_metadata: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: Any, context: RewardContext) -> None:
        self.options = options
        self.context = context

    async def start(self) -> None:  # noqa: B027 - an optional hook
        """Loads models, opens channels; called once before the first score."""

    async def close(self) -> None:  # noqa: B027 - an optional hook
        """Frees what start() took."""

    def check(self, sample: RewardSample, where: str) -> None:
        """Raises InvalidArgument when this function cannot score the sample."""
        for key in self.required_metadata:
            if key not in sample.metadata:
                raise InvalidArgument(f"{where}.metadata: missing {key!r} (needed by {self.name})")

    @abstractmethod
    async def score(self, samples: Sequence[RewardSample]) -> list[RewardResult]:
        """One result per sample, in order."""


class BlockingRewardFunction(RewardFunction):
    """A function whose scoring is synchronous (rules, models): it runs on the executor thread.

    The event loop stays free to accept and answer other RPCs while a batch is scored.
    """

    blocking: ClassVar[bool] = True

    @abstractmethod
    def score_sync(self, samples: Sequence[RewardSample]) -> list[RewardResult]:
        """One result per sample, in order; runs off the event loop."""

    async def score(self, samples: Sequence[RewardSample]) -> list[RewardResult]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.context.executor, self.score_sync, samples)
