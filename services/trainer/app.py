"""Wires the trainer: DeepSpeed ranks and core on the engine thread, resume, the gRPC servicer,
etcd registration, progress key and (optionally) the weight push to rollout instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from functools import partial
from pathlib import Path
from typing import Any

from yatt import keys
from yatt.codec.meta import pack
from yatt.config.loader import dump_config
from yatt.protos import trainer_pb2_grpc
from yatt.rpc.app import serve
from yatt.rpc.server import ServiceRuntime
from yatt.services.trainer.config import TrainerConfig
from yatt.services.trainer.engine import prefer_cpu_accelerator

log = logging.getLogger(__name__)

DONE_POLL_S = 1.0

ROLE = "trainer"
SERVICE = "yatt.v1.TrainerService"
# A shard's tensors are a few MB; this bound only stops a runaway stream from exhausting memory.
MAX_EXPERIENCE_BYTES = 4 << 30


def write_run_dir(cfg: TrainerConfig) -> None:
    """The resolved config goes next to the checkpoints it produced."""
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(dump_config(cfg))


async def start_runner(cfg: TrainerConfig) -> Any:
    """Starts the ranks, builds the core and resumes, all on the engine thread."""
    prefer_cpu_accelerator()
    from concurrent.futures import ThreadPoolExecutor

    from yatt.services.trainer.core import TrainerCore
    from yatt.services.trainer.ranks import RankGroup
    from yatt.services.trainer.runner import TrainerRunner

    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trainer-engine")
    loop = asyncio.get_running_loop()
    core = await loop.run_in_executor(executor, lambda: TrainerCore(cfg, RankGroup(cfg)))
    runner = TrainerRunner(core, executor)
    await runner.restore()
    return runner


async def flush_when_done(cfg: TrainerConfig, runner: Any, etcd_client: Any) -> None:
    """Once the job is marked done no more shards come: step with what is pending (less than
    a global batch), then checkpoint, so every acknowledged shard ends up applied."""
    from yatt.codec.meta import unpack_map

    key = keys.status(cfg.job).encode()
    while True:
        await asyncio.sleep(DONE_POLL_S)
        if runner.state().pending_samples == 0:
            continue
        try:
            kv = await etcd_client.get(key)
        except Exception as exc:  # etcd down: try again next tick
            log.debug("job status unreadable: %s", exc)
            continue
        if kv is None or unpack_map(kv.value, what="job status").get("state") != "done":
            continue
        try:
            result = await runner.flush()
            every = cfg.checkpoint_every
            if result.stepped and every and result.step % every != 0:
                await runner.checkpoint("job done")
        except Exception:  # keep watching: a later tick (or a restart's replay) tries again
            log.exception("flushing the last partial batch failed")


async def run(cfg: TrainerConfig) -> None:
    """Serves until SIGTERM/SIGINT; the ranks are stopped on the way out."""
    import torch

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "0")) or torch.get_num_threads())
    await asyncio.to_thread(write_run_dir, cfg)
    from yatt.transport.segments import sweep_dead

    # Weight segments left by trainers that were SIGKILLed along with their reaper.
    await asyncio.to_thread(sweep_dead)
    runner = await start_runner(cfg)
    from yatt.services.trainer.server import TrainerServicer
    from yatt.wandb_logger import WandbLogger

    # A no-op unless wandb is installed and a project is configured (WANDB_PROJECT).
    wandb = WandbLogger.create(cfg.job, cfg.model_dump(mode="json"))
    runner.on_step(lambda r: wandb.log_step(r.step, runner.state().last_metrics))

    etcd_client: Any = None
    directory: Any = None
    pusher: Any = None
    flusher: asyncio.Task[None] | None = None
    try:
        runtime = ServiceRuntime(cfg.server, ROLE)
        servicer = TrainerServicer(
            runner, runner.publisher, cfg.weight_chunk_bytes, MAX_EXPERIENCE_BYTES
        )
        runtime.add(trainer_pb2_grpc.add_TrainerServiceServicer_to_server, servicer, SERVICE)

        async def on_ready(registration: Any) -> None:
            nonlocal etcd_client, directory, pusher, flusher
            if cfg.registration.job is None:
                return
            from yatt.coordination.client import connect
            from yatt.coordination.discovery import RoleDirectory
            from yatt.services.trainer.job_algorithm import read_job_algorithm
            from yatt.services.trainer.weights import RolloutPusher

            etcd_client = await connect(cfg.etcd)
            runner.algorithm_source = partial(read_job_algorithm, etcd_client, cfg.job)
            try:  # a restart adopts it (and replays its journal) before any push comes
                await runner.configure()
            except Exception:  # pushes try again, and are refused while it fails
                log.exception("reading the algorithm of job %r failed", cfg.job)
            progress_key = keys.trainer(cfg.job).encode()

            async def publish_progress(_result: Any = None) -> None:
                s = runner.state()
                value = {
                    "step": s.step,
                    "weight_version": s.weight_version,
                    "checkpoint": s.checkpoint,
                }
                with contextlib.suppress(Exception):
                    await etcd_client.put(progress_key, pack(value))
                if registration is not None:
                    with contextlib.suppress(Exception):
                        await registration.refresh()

            await publish_progress()
            runner.on_step(publish_progress)
            flusher = asyncio.create_task(flush_when_done(cfg, runner, etcd_client))
            if cfg.push_weights:
                directory = await RoleDirectory(etcd_client, cfg.job, "rollout").start()
                pusher = RolloutPusher(
                    runner.publisher, directory, cfg.weight_chunk_bytes, cfg.push_timeout_s,
                    cfg.server.max_message_bytes, transport=cfg.weight_transport, job=cfg.job,
                    host=cfg.server.advertise_host or cfg.server.host,
                )  # fmt: skip
                runner.on_step(lambda _r: pusher.poke())
                pusher.start()

        def member_info() -> dict[str, Any]:
            s = runner.state()
            info: dict[str, Any] = {"step": s.step, "weight_version": s.weight_version}
            # What submission checks a job's algorithm against (yatt.jobs.submit).
            info["capabilities"] = {"critic": cfg.critic.kind != "none"}
            # The headline numbers of the last step, for progress bars and `yatt status`.
            shown = ("loss", "kl", "reward_mean", "entropy", "grad_norm", "tokens_per_s")
            info["metrics"] = {k: s.last_metrics[k] for k in shown if k in s.last_metrics}
            if pusher is not None:
                info["acked"] = dict(pusher.acked)
                info["weight_transports"] = dict(pusher.transports)
            return info

        await serve(runtime, ROLE, cfg.etcd, cfg.registration, member_info, on_ready=on_ready)
    finally:
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        if pusher is not None:
            await pusher.stop()
        if directory is not None:
            await directory.stop()
        if etcd_client is not None:
            await etcd_client.close()
        wandb.finish()
        await runner.close()
