"""The controller process: claim shards under its own lease, drive several at once, mark done.

Stateless: everything it knows lives in etcd (job config, shard states, claims), so any
number run at once and a dead one's shards return to the pool when its lease expires.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Any

import aetcd
import yaml

from yatt import keys, metrics
from yatt.config import load_config
from yatt.contracts import ControllerMember
from yatt.controller.config import ControllerConfig, JobConfig
from yatt.controller.dataset import PromptDataset
from yatt.controller.pool import RolePool
from yatt.controller.shard import Pools, ShardFailed, ShardRunner
from yatt.controller.window import TrainingWindow
from yatt.coordination.claims import ShardClaims, decode_shard, epoch_progress
from yatt.coordination.client import ETCD_ERRORS, connect
from yatt.coordination.jobstate import job_state, set_job_state
from yatt.coordination.lease import SessionLease
from yatt.coordination.membership import Membership
from yatt.errors import Unavailable
from yatt.logs import set_log_context

log = logging.getLogger(__name__)

POLL_S = 0.5


async def read_job(client: aetcd.Client, job: str) -> JobConfig:
    kv = await client.get(keys.config(job).encode())
    if kv is None:
        raise LookupError(f"job {job!r} has no config in etcd (submit it with `yatt train`)")
    return load_config(JobConfig, data=yaml.safe_load(kv.value.decode()))


class Controller:
    """Claims and drives shards of one job until every shard of every epoch is done."""

    def __init__(self, cfg: ControllerConfig) -> None:
        self.cfg = cfg
        self.name = cfg.instance or f"controller-{socket.gethostname()}-{os.getpid()}"
        self.done_here = 0
        self.samples_here = 0
        self._started = time.monotonic()
        self._in_flight: dict[asyncio.Task[Any], tuple[int, int]] = {}
        set_log_context(job=cfg.job, role="controller", instance=self.name)
        metrics.bind_gauge(metrics.SHARDS_IN_FLIGHT, (cfg.job,), self, lambda c: len(c._in_flight))

    def _member_value(self) -> bytes:
        return ControllerMember(in_flight=len(self._in_flight), done=self.done_here).encode()

    def _count(self, outcome: str, samples: int = 0) -> None:
        metrics.SHARDS.labels(self.cfg.job, outcome).inc()
        if samples:
            self.samples_here += samples
            metrics.SAMPLES.labels(self.cfg.job).inc(samples)
            rate = self.samples_here / max(time.monotonic() - self._started, 1e-6)
            metrics.SAMPLES_PER_S.labels(self.cfg.job).set(rate)

    async def run(self) -> None:
        exporter = metrics.start_exporter(self.cfg.metrics)
        if exporter is not None:
            print(f"yatt controller metrics on {exporter.url}", flush=True)
        try:
            await self._run()
        finally:
            if exporter is not None:
                exporter.stop()

    async def _run(self) -> None:
        client = await connect(self.cfg.etcd)
        lease = SessionLease(client, self.cfg.etcd.lease_ttl_s)
        pools: Pools | None = None
        member: Membership | None = None
        try:
            job = await read_job(client, self.cfg.job)
            dataset = await asyncio.to_thread(PromptDataset, job.data)
            await lease.start()
            member = Membership(
                client,
                keys.member(job.job, "controller", self.name),
                self._member_value,
                lease=lease,
            )
            await member.start()
            pools = await self._pools(client, job)
            claims = ShardClaims(client, job.job, self.name, lease)
            window = TrainingWindow(
                client, job.job, lease, pools.trainer.directory, job.algorithm.max_staleness
            )
            runner = ShardRunner(job, dataset, pools, window)
            log.info("%s working on job %s", self.name, job.job)
            await self._drive(client, job, claims, runner, member)
        finally:
            for task in self._in_flight:
                task.cancel()
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)
            if pools is not None:
                for pool in pools.all():
                    await pool.close()
            if member is not None:
                await member.stop()
            await lease.stop(revoke=True)
            await client.close()

    async def _pools(self, client: aetcd.Client, job: JobConfig) -> Pools:
        async def pool(role: str) -> RolePool:
            return await RolePool(client, job.job, role).start()

        return Pools(
            rollout=await pool("rollout"),
            trainer=await pool("trainer"),
            rewards={r.role: await pool(r.role) for r in job.rewards},
            reference=await pool("reference") if job.use_reference else None,
        )

    async def _claim(self, claims: ShardClaims, epochs: int) -> tuple[int, int] | None:
        for epoch in range(epochs):
            idx = await claims.claim_next(epoch)
            if idx is not None:
                return epoch, idx
        return None

    async def _all_done(self, client: aetcd.Client, epochs: int) -> bool:
        for epoch in range(epochs):
            done, total = await epoch_progress(client, self.cfg.job, epoch)
            if done < total:
                return False
        return True

    async def _drive(
        self,
        client: aetcd.Client,
        job: JobConfig,
        claims: ShardClaims,
        runner: ShardRunner,
        member: Membership,
    ) -> None:
        limit = self.cfg.shards_in_flight or job.controller.shards_in_flight
        epochs = job.data.epochs
        while True:
            # etcd down (or our lease lost with it): wait and go on; claims held meanwhile
            # are fenced by mark_done's compare, pushes by the trainer's ledger.
            try:
                state = await job_state(client, job.job)
                if state["state"] == "failed":
                    log.error("job %s failed elsewhere: %s", job.job, state.get("reason"))
                    return
                while len(self._in_flight) < limit:
                    claimed = await self._claim(claims, epochs)
                    if claimed is None:
                        break
                    task = asyncio.create_task(self._run_shard(client, claims, runner, *claimed))
                    self._in_flight[task] = claimed
                if not self._in_flight:
                    if await self._all_done(client, epochs):
                        log.info("%s: every shard is done", self.name)
                        await set_job_state(client, job.job, "done")
                        if self.cfg.exit_when_done:
                            return
                    # Shards claimed by others may come back if their owner dies.
                    await asyncio.sleep(POLL_S)
                    continue
                finished, _ = await asyncio.wait(
                    self._in_flight, timeout=POLL_S, return_when=asyncio.FIRST_COMPLETED
                )
                for task in finished:
                    self._in_flight.pop(task)
                    if isinstance(task.exception(), ShardFailed):
                        await set_job_state(client, job.job, "failed", str(task.exception()))
                        raise task.exception()  # type: ignore[misc]
                if finished:
                    await member.update(self._member_value)
            except (*ETCD_ERRORS, Unavailable) as exc:  # type: ignore[misc]  # mypy: starred except
                log.warning("etcd unavailable (%s: %s); retrying", type(exc).__name__, exc)
                await asyncio.sleep(POLL_S)

    async def _run_shard(
        self, client: aetcd.Client, claims: ShardClaims, runner: ShardRunner, epoch: int, idx: int
    ) -> None:
        try:
            kv = await client.get(keys.shard(self.cfg.job, epoch, idx).encode())
            ref = decode_shard(kv.value).ref if kv is not None else {}
            outcome = await runner.run(epoch, idx, ref)
        except ShardFailed:
            self._count("failed")
            await self._etcd_retry(claims.release, epoch, idx)
            raise
        except asyncio.CancelledError:
            await asyncio.shield(self._etcd_retry(claims.release, epoch, idx))
            raise
        except Exception as exc:
            # Services unreachable for longer than the retry bound: give the shard back so
            # this or another controller takes it again later.
            log.warning("shard %d/%d: %s: %s; releasing it", epoch, idx, type(exc).__name__, exc)
            self._count("released")
            await self._etcd_retry(claims.release, epoch, idx)
            await asyncio.sleep(runner.settings.backoff_s)
            return
        stats = {**outcome.stats, "controller": self.name, "finished_at": time.time()}
        if await self._etcd_retry(claims.mark_done, epoch, idx, stats):
            self.done_here += 1
            self._count("done", int(outcome.stats.get("samples", 0)))
            log.info("shard %d/%d done: %s", epoch, idx, outcome.stats)
        else:
            # Our claim expired (paused, partitioned): the shard belongs to another controller
            # now; whatever we pushed was deduplicated by the trainer's ledger.
            log.warning("shard %d/%d: claim lost; not marked done", epoch, idx)

    @staticmethod
    async def _etcd_retry(op: Any, *args: Any, within_s: float = 60.0) -> bool:
        """op(*args) retried while etcd is away: a claim we hold is never left stranded.

        Past within_s our lease has expired anyway and the claim is gone with it.
        """
        deadline = time.monotonic() + within_s
        while True:
            try:
                return bool(await op(*args))
            except (*ETCD_ERRORS, Unavailable) as exc:  # type: ignore[misc]  # starred except
                if time.monotonic() > deadline:
                    log.warning(
                        "%s%s: etcd away for %.0fs: %s", op.__name__, args[:2], within_s, exc
                    )
                    return False
                await asyncio.sleep(POLL_S)
