"""The trainer as its own process (`python -m yatt.services.trainer`): SIGKILL and restart with
the same config, and two DeepSpeed ranks on CPU behind one endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from trainer_helpers import make_experience

from yatt.errors import AlreadyExists
from yatt.process.handle import ProcessHandle
from yatt.services.trainer.client import TrainerClient
from yatt.services.trainer.core import PushResult

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

READY = re.compile(r"yatt trainer serving on (\S+)")


def write_config(path: Path, model_dir: Path, out: Path, **over: Any) -> Path:
    cfg: dict[str, Any] = {
        "model": str(model_dir),
        "out_dir": str(out),
        "deepspeed": {"zero_stage": 1, "micro_batch": 2, "global_batch_samples": 8, "lr": 1e-2},
        "algorithm": {"name": "grpo", "kl_coef": 0.01, "max_staleness": 0},
        **over,
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


async def start(config: Path) -> tuple[ProcessHandle, str]:
    proc = ProcessHandle.python(
        "-m", "yatt.services.trainer", "--config", str(config), name="trainer"
    )
    proc.start()
    try:
        line = await proc.wait_for_line_async(READY, timeout=120)
    except BaseException:
        proc.kill()
        raise
    match = READY.search(line)
    assert match is not None
    return proc, match.group(1)


async def push(trainer: TrainerClient, shard: str, seed: int, version: int) -> PushResult:
    exp = make_experience(shard, seed=seed, version=version)
    return await trainer.push_experience(exp.header, exp.tensors(), timeout_s=60)


async def weights(trainer: TrainerClient) -> dict[str, torch.Tensor]:
    return (await trainer.get_weights(timeout_s=60)).tensors


async def test_sigkill_then_restart_resumes_and_keeps_the_ledger(
    model_dir: Path, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "trainer.yaml", model_dir, tmp_path / "run", checkpoint_every=2
    )
    proc, endpoint = await start(config)
    try:
        async with TrainerClient.connect(endpoint) as stub:
            for i in range(7):  # steps 1, 2 (checkpointed), 3 (journal only), then one pending
                await push(stub, f"0/{i}", seed=i, version=i // 2)
            before = await weights(stub)
    finally:
        proc.kill()  # SIGKILL: no drain, no final checkpoint
    assert proc.returncode == -9

    proc, endpoint = await start(config)
    try:
        assert "resumed from" in proc.output() and "step-00000002" in proc.output()
        async with TrainerClient.connect(endpoint) as stub:
            status = await stub.status()
            assert (status.step, status.weight_version, status.pending_samples) == (3, 3, 4)
            after = await weights(stub)
            assert list(after) == list(before)
            assert all(torch.equal(after[k], before[k]) for k in before)
            for i in (1, 3, 6):  # checkpointed, replayed, and pending shards are all still taken
                with pytest.raises(AlreadyExists):
                    await push(stub, f"0/{i}", seed=i, version=3)
            reply = await push(stub, "0/7", seed=7, version=3)
            assert (reply.stepped, reply.step, reply.weight_version) == (True, 4, 4)
    finally:
        proc.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    return False


@pytest.mark.parametrize(
    ("stage", "ending"), [(2, "sigterm"), pytest.param(3, "sigkill", marks=pytest.mark.slow)]
)
async def test_two_ranks_behind_one_endpoint(
    model_dir: Path, tmp_path: Path, stage: int, ending: str
) -> None:
    ds = {"zero_stage": stage, "micro_batch": 2, "global_batch_samples": 8, "lr": 1e-2}
    config = write_config(
        tmp_path / "trainer.yaml", model_dir, tmp_path / "run", world_size=2, verify_ranks=True,
        checkpoint_every=1, deepspeed=ds,
    )  # fmt: skip
    proc, endpoint = await start(config)
    try:
        started = re.search(r"started rank 1 as pid (\d+)", proc.output())
        assert started is not None
        rank1 = int(started.group(1))
        async with TrainerClient.connect(endpoint) as stub:
            before = await weights(stub)
            await push(stub, "0/0", seed=0, version=0)
            reply = await push(stub, "0/1", seed=1, version=0)
            assert (reply.stepped, reply.step, reply.weight_version) == (True, 1, 1)
            status = await stub.status()
            digests = status.last_metrics["rank_digests"]
            assert len(digests) == 2 and digests[0] == digests[1]  # identical weights on both ranks
            after = await weights(stub)
            assert sum(not torch.equal(before[k], after[k]) for k in before) == len(before)
        ckpt = tmp_path / "run" / "checkpoints" / "step-00000001"
        assert {"rng-rank0.pt", "rng-rank1.pt"} <= {p.name for p in ckpt.iterdir()}
        if ending == "sigterm":
            assert proc.stop(timeout=30) == 0, proc.output()[-3000:]
        else:
            proc.kill()  # rank 1 must not outlive rank 0
        for _ in range(100):
            if not _alive(rank1):
                break
            await asyncio.sleep(0.1)
        assert not _alive(rank1)
    finally:
        proc.stop()
