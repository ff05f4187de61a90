"""TrainerRunner: the asyncio face of TrainerCore. Every core call runs on one dedicated engine
thread, in arrival order, so the event loop never blocks and DeepSpeed's collectives never
interleave (steps, checkpoints and weight gathers are serialised)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from yatt.config.algorithm import AlgorithmSpec
from yatt.errors import Unavailable, YattError
from yatt.services.trainer.core import (
    CheckpointInfo,
    PushResult,
    TrainerCore,
    TrainerState,
    WeightSnapshot,
)
from yatt.services.trainer.experience import Experience
from yatt.services.trainer.weights import WeightPublisher

T = TypeVar("T")


class TrainerRunner:
    def __init__(self, core: TrainerCore, executor: ThreadPoolExecutor | None = None) -> None:
        """executor: the single thread that built core (DeepSpeed state stays on it)."""
        self.core = core
        self._executor = executor or ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="trainer-engine"
        )
        self.publisher = WeightPublisher(self._snapshot, lambda: self.core.version)
        self._on_step: list[Callable[[PushResult], Any]] = []
        self._on_push: list[Callable[[PushResult], Any]] = []
        # Where a registered trainer finds its job's algorithm (None: not known yet).
        self.algorithm_source: Callable[[], Awaitable[AlgorithmSpec | None]] | None = None

    def on_step(self, callback: Callable[[PushResult], Any]) -> Callable[[], None]:
        """callback(result) on the event loop after each step; returns what unsubscribes it."""
        self._on_step.append(callback)
        return lambda: self._on_step.remove(callback)

    def on_push(self, callback: Callable[[PushResult], Any]) -> Callable[[], None]:
        """callback(result) after each accepted push, stepped or not; returns its unsubscribe."""
        self._on_push.append(callback)
        return lambda: self._on_push.remove(callback)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def restore(self) -> None:
        await self._call(self.core.restore)

    async def configure(self) -> bool:
        """Reads the job's algorithm from algorithm_source if the core has none yet (then
        the journal is replayed); False while it is not there."""
        if self.core.algorithm is None and self.algorithm_source is not None:
            try:
                spec = await self.algorithm_source()
            except YattError:
                raise
            except Exception as exc:  # etcd unreachable: the caller may try again
                raise Unavailable(f"reading the job's algorithm failed: {exc}") from exc
            if spec is not None:
                await self._call(self.core.configure, spec)
        return self.core.algorithm is not None

    async def push(self, exp: Experience) -> PushResult:
        await self.configure()  # the core refuses with UNAVAILABLE while there is none
        # Shielded: a caller that goes away (killed controller, deadline) must not cut off what
        # follows a step it filled: the new version's publication and its push to rollout.
        return await asyncio.shield(self._push(exp))

    async def _push(self, exp: Experience) -> PushResult:
        result = await self._call(self.core.push, exp)
        await _notify(self._on_push, result)
        return await self._after(result)

    async def flush(self) -> PushResult:
        """Steps with whatever is pending (the job is done); stepped=False if nothing was."""

        def flush() -> PushResult:
            stepped = self.core.flush()
            c = self.core
            return PushResult(stepped, c.step, c.version, c.pending_samples)

        return await self._after(await self._call(flush))

    async def _after(self, result: PushResult) -> PushResult:
        if result.stepped:
            await self.publisher.notify()
            await _notify(self._on_step, result)
        return result

    async def checkpoint(self, label: str = "") -> CheckpointInfo:
        return await self._call(self.core.checkpoint, label)

    async def _snapshot(self) -> WeightSnapshot:
        return await self._call(self.core.snapshot)

    def state(self) -> TrainerState:
        return self.core.state()

    async def close(self) -> None:
        await self._call(self.core.engine.close)
        self._executor.shutdown(wait=True)

    async def __aenter__(self) -> TrainerRunner:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


async def _notify(callbacks: list[Callable[[PushResult], Any]], result: PushResult) -> None:
    """Calls each callback with result, awaiting the ones that return a coroutine."""
    for callback in callbacks:
        out = callback(result)
        if asyncio.iscoroutine(out):
            await out
