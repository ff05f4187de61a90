"""End to end: a real trainer pushes each version to rollout processes found in etcd, over shm
(picked by `auto` on one host) or grpc; rollouts serve exactly GetWeights' tensors; SIGKILL of a
rollout or of the trainer leaves no segment in /dev/shm."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
import yaml
from transport_helpers import JOB, endpoint_of, local_greedy, remote_greedy, rollout_process

from yatt import keys
from yatt.contracts import TrainerMember
from yatt.process.handle import ProcessHandle
from yatt.services.rollout.client import RolloutClient
from yatt.services.trainer.client import TrainerClient
from yatt.transport.segments import owned_segments, owner_prefix

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]


def experience(shard: str, version: int):  # noqa: ANN201
    import torch

    from yatt.services.trainer.experience import Experience, ExperienceHeader

    g = torch.Generator().manual_seed(int(shard.split("/")[1]))
    n, t = 4, 10
    mask = torch.zeros(n, t)
    mask[:, 4:] = 1.0
    rewards = torch.randn(n, generator=g)
    header = ExperienceHeader(
        job=JOB, shard_id=shard, epoch=0, weight_version=version, num_samples=n
    )
    return Experience(
        header=header, input_ids=torch.randint(2, 200, (n, t), generator=g),
        attention_mask=torch.ones(n, t, dtype=torch.int64), loss_mask=mask,
        old_logprobs=-5.0 * mask, rewards=rewards,
        advantages=((rewards - rewards.mean()) / (rewards.std() + 1e-6)).unsqueeze(1) * mask,
    )  # fmt: skip


async def trainer_weights(trainer: TrainerClient, version: int) -> dict:
    snapshot = await trainer.get_weights(version, timeout_s=60)
    assert snapshot.version == version
    return snapshot.tensors


async def wait_version(rollout: RolloutClient, version: int) -> None:
    for _ in range(300):
        if (await rollout.info(timeout_s=5)).weight_version >= version:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"rollout never reached version {version}")


@pytest.mark.parametrize("transport", ["auto", "grpc"])
async def test_versions_reach_rollouts_bit_exact_and_nothing_leaks(
    transport: str,
    tiny_model: Path,
    engine,
    tmp_path: Path,
    etcd,
    etcd_client,  # noqa: ANN001
) -> None:
    job = JOB
    common = {"etcd": {"endpoint": etcd.endpoint, "lease_ttl_s": 2}}
    rollouts = [
        rollout_process(
            tiny_model,
            tmp_path / f"r{i}.yaml",
            **common,
            registration={"job": job, "instance": f"r{i}"},
        )  # fmt: skip
        for i in range(2)
    ]
    config = {
        **common, "registration": {"job": job, "instance": "t0"}, "job": job,
        "model": str(tiny_model), "out_dir": str(tmp_path / "run"), "push_weights": True,
        "weight_transport": transport, "checkpoint_every": 0,
        "deepspeed": {"micro_batch": 2, "global_batch_samples": 4, "lr": 1e-2},
    }  # fmt: skip
    (tmp_path / "trainer.yaml").write_text(yaml.safe_dump(config))
    # A registered trainer reads its algorithm from the job's config (what `yatt train` writes).
    job_config = yaml.safe_dump({"job": job, "algorithm": {"name": "grpo"}})
    await etcd_client.put(keys.config(job).encode(), job_config.encode())
    trainer = ProcessHandle.python(
        "-m", "yatt.services.trainer", "--config", str(tmp_path / "trainer.yaml"), name="trainer"
    ).start()
    prefix = owner_prefix(job, trainer.pid)
    try:
        ends = [endpoint_of(r, 300) for r in rollouts]
        t_end = endpoint_of(trainer, 300)
        async with (
            TrainerClient.connect(t_end) as tstub,
            RolloutClient.connect(ends[0]) as rc0,
            RolloutClient.connect(ends[1]) as rc1,
        ):
            rstubs = [rc0, rc1]
            first = experience("0/0", 0)
            reply = await tstub.push_experience(first.header, first.tensors(), timeout_s=60)
            assert reply.stepped and reply.weight_version == 1
            for stub in rstubs:
                await wait_version(stub, 1)
            want = local_greedy(engine, await trainer_weights(tstub, 1))
            for stub in rstubs:
                assert await remote_greedy(stub) == want  # the trainer's exact weights
            member = TrainerMember()
            for _ in range(50):
                kv = await etcd_client.get(keys.member(job, "trainer", "t0").encode())
                member = TrainerMember.decode(kv.value) if kv else TrainerMember()
                if member.acked == {"r0": 1, "r1": 1}:
                    break
                await asyncio.sleep(0.2)
            used = "shm" if transport == "auto" else "grpc"
            assert member.weight_transports == {"r0": used, "r1": used}
            if used == "shm":
                assert [p.name for p in owned_segments(prefix)] == [f"{prefix}v1"]
            else:
                assert owned_segments(prefix) == []

            # A rollout SIGKILLed mid-job: the next version still reaches the other one.
            os.kill(rollouts[1].pid, signal.SIGKILL)
            second = experience("0/1", 1)
            reply = await tstub.push_experience(second.header, second.tensors(), timeout_s=60)
            assert reply.weight_version == 2
            await wait_version(rstubs[0], 2)
            assert await remote_greedy(rstubs[0]) == local_greedy(
                engine, await trainer_weights(tstub, 2)
            )
            if used == "shm":  # v1 recycled as the spare, v2 live: never more than two
                names = sorted(p.name for p in owned_segments(prefix))
                assert len(names) == 2 and f"{prefix}v2" in names, names
        # The trainer SIGKILLed: its reaper frees what it held.
        os.kill(trainer.pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while owned_segments(prefix) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert owned_segments(prefix) == []
    finally:
        trainer.stop(timeout=30)
        for r in rollouts:
            r.stop(timeout=30)
