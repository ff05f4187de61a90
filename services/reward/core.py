"""RewardCore: validates a batch, runs the configured reward functions, sums them.

No grpc here: the servicer converts protobuf to RewardSample and back around `score`.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from yatt.errors import InvalidArgument

from .config import RewardConfig
from .plugins import registry
from .plugins.base import (
    FunctionSpec,
    RewardContext,
    RewardFunction,
    RewardResult,
    RewardSample,
)
from .plugins.weighted_sum import WeightedSum


class RewardCore:
    """The configured functions as one weighted sum; build it, start it, score batches."""

    def __init__(
        self, functions: Sequence[FunctionSpec], threads: int = 1, max_batch: int = 4096
    ) -> None:
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="reward")
        self.context = RewardContext(executor=self.executor, build=self._build)
        self.max_batch = max_batch
        # Unknown plugin names and bad options raise ConfigError here, before serving.
        self.sum = WeightedSum.of(functions, self.context, "functions")

    @classmethod
    def from_config(cls, cfg: RewardConfig) -> RewardCore:
        return cls(cfg.functions, cfg.threads, cfg.max_batch)

    def _build(self, spec: FunctionSpec, key: str) -> RewardFunction:
        return registry.build(spec, self.context, key)

    @property
    def components(self) -> list[str]:
        return [s.component for s in self.sum.specs]

    async def start(self) -> None:
        await self.sum.start()

    async def close(self) -> None:
        await self.sum.close()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def validate(self, samples: Sequence[RewardSample]) -> None:
        """Refuses the whole batch (INVALID_ARGUMENT) before any function runs."""
        if not samples:
            raise InvalidArgument("samples: empty batch")
        if len(samples) > self.max_batch:
            raise InvalidArgument(f"samples: {len(samples)} samples, at most {self.max_batch}")
        for i, sample in enumerate(samples):
            self.sum.check(sample, f"samples.{i}")

    async def score(self, samples: Sequence[RewardSample]) -> list[RewardResult]:
        """One result per sample, in order: total = sum of weight * function total."""
        self.validate(samples)
        return await self.sum.score(samples)
