"""Wires the trainer process as a stack of components, entered in order and closed in reverse:
the engine runner, wandb, then (once registered in etcd) the etcd client, the progress key, the
weight push to rollout instances and the flush of the last partial batch when the job is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path

import aetcd

from yatt.config.loader import dump_config
from yatt.contracts import TrainerMember
from yatt.protos import trainer_pb2_grpc
from yatt.rpc.app import Registration, serve
from yatt.rpc.server import ServiceRuntime
from yatt.services.trainer.config import TrainerConfig
from yatt.services.trainer.runner import TrainerRunner
from yatt.services.trainer.weights import RolloutPusher
from yatt.wandb_logger import WandbLogger

ROLE = "trainer"
SERVICE = "yatt.v1.TrainerService"
# A shard's tensors are a few MB; this bound only stops a runaway stream from exhausting memory.
MAX_EXPERIENCE_BYTES = 4 << 30

log = logging.getLogger(__name__)


def write_run_dir(cfg: TrainerConfig) -> None:
    """The resolved config goes next to the checkpoints it produced."""
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(dump_config(cfg))


async def start_runner(cfg: TrainerConfig) -> TrainerRunner:
    """Builds the engine (starting the ranks) and the core, then resumes: on the engine thread."""
    from concurrent.futures import ThreadPoolExecutor

    from yatt.services.trainer.core import TrainerCore
    from yatt.services.trainer.engine_api import build_engine

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trainer-engine")
    loop = asyncio.get_running_loop()
    core = await loop.run_in_executor(executor, lambda: TrainerCore(cfg, build_engine(cfg)))
    runner = TrainerRunner(core, executor)
    await runner.restore()
    return runner


@contextlib.contextmanager
def wandb_steps(cfg: TrainerConfig, runner: TrainerRunner) -> Iterator[WandbLogger]:
    """Step metrics to wandb: a no-op unless wandb is installed and WANDB_PROJECT is set."""
    wandb = WandbLogger.create(cfg.job, cfg.model_dump(mode="json"))
    unsubscribe = runner.on_step(lambda r: wandb.log_step(r.step, runner.state().last_metrics))
    try:
        yield wandb
    finally:
        unsubscribe()
        wandb.finish()


@contextlib.asynccontextmanager
async def rollout_push(
    cfg: TrainerConfig, runner: TrainerRunner, etcd: aetcd.Client
) -> AsyncIterator[RolloutPusher]:
    """Pushes each new version to the job's rollout members, as etcd lists them."""
    from yatt.coordination.discovery import RoleDirectory

    async with RoleDirectory(etcd, cfg.job, "rollout") as directory:
        pusher = RolloutPusher(
            runner.publisher, directory, cfg.weight_chunk_bytes, cfg.push_timeout_s,
            cfg.server.max_message_bytes, transport=cfg.weight_transport, job=cfg.job,
            host=cfg.server.advertise_host or cfg.server.host,
        )  # fmt: skip
        unsubscribe = runner.on_step(lambda _r: pusher.poke())
        pusher.start()
        try:
            yield pusher
        finally:
            unsubscribe()
            await pusher.stop()


class TrainerProcess:
    """The servicer, the member value, and the etcd components started once registered
    (entered into the process's exit stack, so they close before the runner)."""

    def __init__(
        self, cfg: TrainerConfig, runner: TrainerRunner, stack: contextlib.AsyncExitStack
    ) -> None:
        self.cfg, self.runner, self._stack = cfg, runner, stack
        self.pusher: RolloutPusher | None = None

    def runtime(self) -> ServiceRuntime:
        from yatt.services.trainer.server import TrainerServicer

        cfg, runner = self.cfg, self.runner
        runtime = ServiceRuntime(cfg.server, ROLE)
        servicer = TrainerServicer(
            runner, runner.publisher, cfg.weight_chunk_bytes, MAX_EXPERIENCE_BYTES
        )
        runtime.add(trainer_pb2_grpc.add_TrainerServiceServicer_to_server, servicer, SERVICE)
        return runtime

    async def on_ready(self, registration: Registration | None) -> None:
        from yatt.coordination.client import connect
        from yatt.services.trainer.done_flusher import DoneFlusher
        from yatt.services.trainer.progress import ProgressPublisher

        cfg, enter = self.cfg, self._stack.enter_async_context
        if cfg.registration.job is None:
            return
        etcd = await connect(cfg.etcd)
        self._stack.push_async_callback(etcd.close)
        await self._adopt_job_algorithm(etcd)
        await enter(ProgressPublisher(etcd, cfg.job, self.runner, registration))
        if cfg.push_weights:
            self.pusher = await enter(rollout_push(cfg, self.runner, etcd))
        await enter(DoneFlusher(cfg, self.runner, etcd))

    async def _adopt_job_algorithm(self, etcd: aetcd.Client) -> None:
        """The algorithm is the job's (its config in etcd); a restart adopts it, and replays its
        journal, before any push comes. While it cannot be read, pushes try again."""
        from yatt.services.trainer.job_algorithm import read_job_algorithm

        self.runner.algorithm_source = partial(read_job_algorithm, etcd, self.cfg.job)
        try:
            await self.runner.configure()
        except Exception:
            log.exception("reading the algorithm of job %r failed", self.cfg.job)

    def member_info(self) -> TrainerMember:
        s = self.runner.state()
        # The headline numbers of the last step, for progress bars and `yatt status`.
        shown = ("loss", "kl", "reward_mean", "entropy", "grad_norm", "tokens_per_s")
        pusher = self.pusher
        return TrainerMember(
            step=s.step,
            weight_version=s.weight_version,
            metrics={k: float(s.last_metrics[k]) for k in shown if k in s.last_metrics},
            acked=dict(pusher.acked) if pusher is not None else {},
            weight_transports=dict(pusher.transports) if pusher is not None else {},
            capabilities={"critic": self.cfg.critic.kind != "none"},
            pending_samples=s.pending_samples,
            global_batch_samples=self.cfg.deepspeed.global_batch_samples,
        )


async def run(cfg: TrainerConfig) -> None:
    """Serves until SIGTERM/SIGINT; then closes every component in reverse, the ranks last."""
    import torch

    from yatt.transport.segments import sweep_dead

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "0")) or torch.get_num_threads())
    await asyncio.to_thread(write_run_dir, cfg)
    # Weight segments left by trainers that were SIGKILLed along with their reaper.
    await asyncio.to_thread(sweep_dead)
    async with contextlib.AsyncExitStack() as stack:
        runner = await stack.enter_async_context(await start_runner(cfg))
        stack.enter_context(wandb_steps(cfg, runner))
        process = TrainerProcess(cfg, runner, stack)
        await serve(
            process.runtime(), ROLE, cfg.etcd, cfg.registration, process.member_info,
            on_ready=process.on_ready,
        )  # fmt: skip
