"""Several DeepSpeed ranks behind one endpoint: rank 0 (the service) starts ranks 1..n-1 as
child processes and sends each typed command (rank.RankCommand) to all of them over a gloo group.
RankGroup is the DeepSpeed TrainingEngine.

A command is three collectives on that group: broadcast (the command, or None when each rank
gets its own), scatter (per-rank commands), gather (results). Children exit when told to stop,
when rank 0 dies (PDEATHSIG), or when a collective fails; rank 0 exits when a child dies, since
its collectives could never finish.

Run as `python -m yatt.services.trainer.ranks --config FILE --rank R --world-size N --port P`.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import torch
import torch.distributed as dist

from yatt.process.ports import free_port
from yatt.services.trainer.batching import Batch, StepPlan
from yatt.services.trainer.config import TrainerConfig
from yatt.services.trainer.deepspeed_engine import init_distributed, prefer_cpu_accelerator
from yatt.services.trainer.losses.settings import LossSettings
from yatt.services.trainer.rank import (
    Digest,
    Gather,
    Load,
    Rank,
    RankCommand,
    Save,
    Step,
    Stop,
    run_on,
)
from yatt.services.trainer.train_step import combine

log = logging.getLogger(__name__)

R = TypeVar("R")

_GROUP: Any = None


def command_group() -> Any:
    """The gloo group commands travel on (created once per process, on every rank in order)."""
    global _GROUP
    if _GROUP is None:
        _GROUP = dist.new_group(backend="gloo")
    return _GROUP


def die_with_parent(parent_pid: int) -> None:
    """In a rank > 0: get SIGKILL when rank 0 goes away, even by SIGKILL (Linux).

    Set by the child itself (preexec_fn is unsafe in a threaded parent); the getppid check
    closes the race where rank 0 died before prctl ran. The death signal fires when the
    parent *thread* that spawned us exits: the engine thread, which lives as long as rank 0.
    """
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        return
    if os.getppid() != parent_pid:
        os._exit(70)


class RankGroup:
    """Rank 0's handle on every rank: the DeepSpeed TrainingEngine (engine_api)."""

    def __init__(self, cfg: TrainerConfig) -> None:
        self.cfg = cfg
        self.world_size = cfg.world_size
        self._children: list[subprocess.Popen[bytes]] = []
        self._stopping = False
        port = cfg.deepspeed.master_port or free_port()
        if self.world_size > 1:
            self._spawn(port)
        init_distributed(0, self.world_size, port, cfg)
        command_group()
        self.rank = Rank(cfg, 0, self.world_size)

    def _spawn(self, port: int) -> None:
        out = Path(self.cfg.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        config_file = out / "ranks-config.json"
        config_file.write_text(self.cfg.model_dump_json())
        prefer_cpu_accelerator()
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        for rank in range(1, self.world_size):
            argv = [
                sys.executable, "-m", "yatt.services.trainer.ranks", "--config", str(config_file),
                "--rank", str(rank), "--world-size", str(self.world_size), "--port", str(port),
                "--parent-pid", str(os.getpid()),
            ]  # fmt: skip
            child = subprocess.Popen(argv, env=env)
            self._children.append(child)
            log.info("started rank %d as pid %d", rank, child.pid)
        threading.Thread(target=self._watch_children, name="rank-watchdog", daemon=True).start()

    def _watch_children(self) -> None:
        for child in self._children:
            code = child.wait()
            if not self._stopping:
                log.critical(
                    "rank process %d exited with %s; the trainer cannot go on", child.pid, code
                )
                os._exit(70)

    @property
    def child_pids(self) -> list[int]:
        return [c.pid for c in self._children]

    @property
    def vocab_size(self) -> int:
        return self.rank.modules.vocab_size

    def step(self, batch: Batch, plan: StepPlan, loss: LossSettings) -> dict[str, float]:
        # The loss settings travel with each step: they come from the job, which ranks
        # 1..n-1 never read.
        parts = batch.split(self.world_size)
        return combine(self._run_each([Step(part, plan, loss) for part in parts]))

    def digests(self) -> list[str]:
        return self._run(Digest())

    def gather(self) -> dict[str, torch.Tensor]:
        tensors: dict[str, torch.Tensor] | None = self._run(Gather())[0]
        assert tensors is not None  # rank 0 holds the gathered weights
        return tensors

    def save(self, root: Path, tag: str) -> None:
        self._run(Save(str(root), tag))

    def load(self, root: Path, tag: str) -> None:
        self._run(Load(str(root), tag))

    def _run(self, command: RankCommand[R]) -> list[R]:
        """Runs command on every rank; each rank's result, index = rank."""
        if self.world_size == 1:
            return [command.apply(self.rank)]
        dist.broadcast_object_list([command, False], src=0, group=command_group())
        return self._gather_results(command)

    def _run_each(self, commands: Sequence[RankCommand[R]]) -> list[R]:
        """Runs commands[r] on rank r; each rank's result."""
        if self.world_size == 1:
            return [commands[0].apply(self.rank)]
        group = command_group()
        dist.broadcast_object_list([None, True], src=0, group=group)
        return self._gather_results(_scatter(list(commands), group))

    def _gather_results(self, mine: RankCommand[R]) -> list[R]:
        gathered: list[Any] = [None] * self.world_size
        dist.gather_object(run_on(self.rank, mine), gathered, dst=0, group=command_group())
        errors = [r[1] for r in gathered if r[0] == "error"]
        if errors:
            raise RuntimeError(f"{type(mine).__name__} failed: " + "; ".join(errors))
        return [cast(R, r[1]) for r in gathered]

    def close(self) -> None:
        self._stopping = True
        if self.world_size > 1:
            dist.broadcast_object_list([Stop(), False], src=0, group=command_group())
            for child in self._children:
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()


def _scatter(per_rank: list[Any] | None, group: Any) -> Any:
    """Rank 0 sends per_rank[r] to rank r (others pass None); each rank returns its own."""
    out: list[Any] = [None]
    dist.scatter_object_list(out, per_rank, src=0, group=group)
    return out[0]


def serve_rank(cfg: TrainerConfig, rank: int, world_size: int, port: int) -> None:
    """The loop of a rank > 0: receive a command, run it, send the result back."""
    init_distributed(rank, world_size, port, cfg)
    group = command_group()
    me = Rank(cfg, rank, world_size)
    while True:
        header: list[Any] = [None, None]
        dist.broadcast_object_list(header, src=0, group=group)
        shared, scattered = header
        if isinstance(shared, Stop):
            return
        command: RankCommand[Any] = _scatter(None, group) if scattered else shared
        dist.gather_object(run_on(me, command), None, dst=0, group=group)


def main(argv: list[str] | None = None) -> None:
    from yatt.logs import setup_logging

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--world-size", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, default=None)
    args = parser.parse_args(argv)
    if args.parent_pid is not None:
        die_with_parent(args.parent_pid)
    setup_logging(f"trainer-rank{args.rank}")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    cfg = TrainerConfig.model_validate(json.loads(Path(args.config).read_text()))
    serve_rank(cfg, args.rank, args.world_size, args.port)


if __name__ == "__main__":
    main()
