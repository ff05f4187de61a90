"""Several DeepSpeed ranks behind one endpoint: rank 0 (the service) starts ranks 1..n-1 as
child processes and sends each command to all of them over a gloo group.

A command is three collectives on that group: broadcast (name, shared arg), scatter (per-rank
args), gather (results). Children exit when told to stop, when rank 0 dies (PDEATHSIG), or when
a collective fails; rank 0 exits when a child dies, since its collectives could never finish.

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
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from yatt.process.ports import free_port
from yatt.services.trainer.config import TrainerConfig
from yatt.services.trainer.engine import init_distributed, prefer_cpu_accelerator

log = logging.getLogger(__name__)

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
    """Rank 0's handle on every rank; run() executes one command everywhere."""

    def __init__(self, cfg: TrainerConfig) -> None:
        from yatt.services.trainer.worker import RankWorker

        self.cfg = cfg
        self.world_size = cfg.world_size
        self._children: list[subprocess.Popen[bytes]] = []
        self._stopping = False
        port = cfg.deepspeed.master_port or free_port()
        if self.world_size > 1:
            self._spawn(port)
        init_distributed(0, self.world_size, port, cfg)
        command_group()
        self.worker = RankWorker(cfg, 0, self.world_size)

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

    def run(self, command: str, arg: Any = None, per_rank: list[Any] | None = None) -> list[Any]:
        """Runs command on every rank; returns each rank's result (index = rank).

        Each rank's handler gets per_rank[rank] when per_rank is given, else the shared arg.
        """
        if self.world_size == 1:
            return [self.worker.handle(command, per_rank[0] if per_rank is not None else arg)]
        group = command_group()
        dist.broadcast_object_list([command, arg, per_rank is not None], src=0, group=group)
        mine = _scatter(per_rank, group)
        result: Any
        try:
            result = ("ok", self.worker.handle(command, mine if per_rank is not None else arg))
        except Exception as exc:
            result = ("error", f"rank 0: {type(exc).__name__}: {exc}")
        gathered: list[Any] = [None] * self.world_size
        dist.gather_object(result, gathered, dst=0, group=group)
        errors = [r[1] for r in gathered if r[0] == "error"]
        if errors:
            raise RuntimeError(f"{command} failed: " + "; ".join(errors))
        return [r[1] for r in gathered]

    def close(self) -> None:
        self._stopping = True
        if self.world_size > 1:
            dist.broadcast_object_list(["stop", None, False], src=0, group=command_group())
            for child in self._children:
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()


def _scatter(per_rank: list[Any] | None, group: Any) -> Any:
    if per_rank is None:
        return None
    out: list[Any] = [None]
    rank = dist.get_rank()
    dist.scatter_object_list(out, per_rank if rank == 0 else None, src=0, group=group)
    return out[0]


def serve_rank(cfg: TrainerConfig, rank: int, world_size: int, port: int) -> None:
    """The loop of a rank > 0: receive a command, run it, send the result back."""
    from yatt.services.trainer.worker import RankWorker

    init_distributed(rank, world_size, port, cfg)
    group = command_group()
    worker = RankWorker(cfg, rank, world_size)
    while True:
        header: list[Any] = [None, None, None]
        dist.broadcast_object_list(header, src=0, group=group)
        command, arg, scattered = header
        if command == "stop":
            return
        mine = _scatter([None] * world_size, group) if scattered else None
        try:
            result = ("ok", worker.handle(command, mine if scattered else arg))
        except Exception as exc:
            log.exception("rank %d: %s failed", rank, command)
            result = ("error", f"rank {rank}: {type(exc).__name__}: {exc}")
        dist.gather_object(result, None, dst=0, group=group)


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
