"""ProgressPublisher: the trainer's progress key in etcd (step, weight version, checkpoint),
written at start and after every step, so controllers and `yatt status` see where it stands."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import aetcd

from yatt import keys
from yatt.codec.meta import pack
from yatt.rpc.app import Registration
from yatt.services.trainer.core import PushResult
from yatt.services.trainer.runner import TrainerRunner


class ProgressPublisher:
    """Also re-publishes the member value after each push (its pending samples, and after a
    step its metrics and acks, changed)."""

    def __init__(
        self,
        etcd: aetcd.Client,
        job: str,
        runner: TrainerRunner,
        registration: Registration | None,
    ) -> None:
        self._etcd, self._runner, self._registration = etcd, runner, registration
        self._key = keys.trainer(job).encode()
        self._unsubscribe: list[Callable[[], None]] = []

    async def __aenter__(self) -> ProgressPublisher:
        await self.publish()
        self._unsubscribe = [
            self._runner.on_step(self.publish),
            self._runner.on_push(self.refresh_member),
        ]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()

    async def refresh_member(self, result: PushResult) -> None:
        """After a push that did not step: the member value's pending_samples moved."""
        if self._registration is not None and not result.stepped:
            with contextlib.suppress(Exception):
                await self._registration.refresh()

    async def publish(self, _result: PushResult | None = None) -> None:
        """Best effort: etcd away only delays the next update."""
        s = self._runner.state()
        value = {"step": s.step, "weight_version": s.weight_version, "checkpoint": s.checkpoint}
        with contextlib.suppress(Exception):
            await self._etcd.put(self._key, pack(value))
        if self._registration is not None:
            with contextlib.suppress(Exception):
                await self._registration.refresh()
