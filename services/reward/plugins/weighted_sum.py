"""A weighted sum of several named reward functions, scored concurrently.

The service's own combination of its configured functions is one of these.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from pydantic import Field

from yatt.config.loader import ConfigModel
from yatt.errors import ConfigError

from .base import FunctionSpec, RewardContext, RewardFunction, RewardResult, RewardSample


class WeightedSumOptions(ConfigModel):
    functions: list[FunctionSpec] = Field(
        ..., min_length=1, description="The functions summed, each with its weight and options."
    )


class WeightedSum(RewardFunction):
    """total = sum(weight_i * total_i); components[label_i] = total_i (unweighted).

    A child's own components appear as "label.key", its details under details[label].
    """

    name = "weighted_sum"
    Options = WeightedSumOptions

    def __init__(
        self, options: WeightedSumOptions, context: RewardContext, key: str = "options.functions"
    ) -> None:
        super().__init__(options, context)
        if context.build is None:
            raise ConfigError(f"{key}: weighted_sum needs a builder for its functions")
        self.specs = list(options.functions)
        labels = [s.component for s in self.specs]
        for i, label in enumerate(labels):
            if labels.index(label) != i:
                raise ConfigError(f"{key}.{i}: component {label!r} appears twice; set `label`")
        self.children = [context.build(spec, f"{key}.{i}") for i, spec in enumerate(self.specs)]

    @classmethod
    def of(
        cls, specs: Sequence[FunctionSpec], context: RewardContext, key: str = "functions"
    ) -> WeightedSum:
        """A sum of specs whose error messages name the list at `key` (the service's functions)."""
        return cls(WeightedSumOptions(functions=list(specs)), context, key)

    async def start(self) -> None:
        for child in self.children:
            await child.start()

    async def close(self) -> None:
        for child in self.children:
            await child.close()

    def check(self, sample: RewardSample, where: str) -> None:
        for child in self.children:
            child.check(sample, where)

    async def score(self, samples: Sequence[RewardSample]) -> list[RewardResult]:
        parts = await asyncio.gather(*(child.score(samples) for child in self.children))
        for spec, part in zip(self.specs, parts, strict=True):
            if len(part) != len(samples):
                raise RuntimeError(f"{spec.name} returned {len(part)} results for {len(samples)}")
        out = []
        for i in range(len(samples)):
            total, components, details = 0.0, {}, {}
            for spec, part in zip(self.specs, parts, strict=True):
                res = part[i]
                total += spec.weight * res.total
                components[spec.component] = float(res.total)
                for k, v in res.components.items():
                    components[f"{spec.component}.{k}"] = float(v)
                if res.details:
                    details[spec.component] = res.details
            out.append(RewardResult(total=total, components=components, details=details))
        return out
