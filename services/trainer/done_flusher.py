"""DoneFlusher: once the job is marked done no more shards come, so the last partial batch is
stepped and checkpointed; every acknowledged shard ends up applied."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aetcd

from yatt import keys
from yatt.codec.meta import unpack_map
from yatt.services.trainer.config import TrainerConfig
from yatt.services.trainer.runner import TrainerRunner

log = logging.getLogger(__name__)

DONE_POLL_S = 1.0


class DoneFlusher:
    """A task that polls the job's status while samples are pending (cancelled on exit)."""

    def __init__(self, cfg: TrainerConfig, runner: TrainerRunner, etcd: aetcd.Client) -> None:
        self._cfg, self._runner, self._etcd = cfg, runner, etcd
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> DoneFlusher:
        self._task = asyncio.create_task(self._watch(), name="flush-when-done")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(DONE_POLL_S)
            if self._runner.state().pending_samples and await self._job_done():
                await self._flush()

    async def _job_done(self) -> bool:
        try:
            kv = await self._etcd.get(keys.status(self._cfg.job).encode())
        except Exception as exc:  # etcd down: try again next tick
            log.debug("job status unreadable: %s", exc)
            return False
        return kv is not None and unpack_map(kv.value, what="job status").get("state") == "done"

    async def _flush(self) -> None:
        try:
            result = await self._runner.flush()
            every = self._cfg.checkpoint_every
            if result.stepped and every and result.step % every != 0:
                await self._runner.checkpoint("job done")
        except Exception:  # keep watching: a later tick (or a restart's replay) tries again
            log.exception("flushing the last partial batch failed")
