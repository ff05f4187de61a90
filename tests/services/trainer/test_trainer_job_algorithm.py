"""A registered trainer and its job's algorithm, with real etcd and a real trainer process:
the trainer publishes its capabilities, submission refuses an algorithm it cannot run (PPO
without a critic), and it trains with the algorithm of the job's config in etcd, answering
UNAVAILABLE until the job is submitted."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import grpc
import pytest
import yaml
from trainer_helpers import make_experience

from yatt import keys
from yatt.controller.config import JobConfig
from yatt.errors import ConfigError
from yatt.jobs import registered, submit
from yatt.process.handle import ProcessHandle
from yatt.protos import trainer_pb2_grpc
from yatt.rpc.channel import make_channel
from yatt.services.trainer.convert import experience_to_stream

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

READY = re.compile(r"yatt trainer serving on (\S+)")
JOB = "algo"


def job_config(data: Path, algorithm: dict) -> JobConfig:
    return JobConfig(job=JOB, data={"path": str(data)}, algorithm=algorithm)


async def push(stub: trainer_pb2_grpc.TrainerServiceStub, shard: str, version: int) -> object:
    exp = make_experience(shard, job=JOB, version=version)
    return await stub.PushExperience(experience_to_stream(exp, 1 << 16), timeout=60)


async def test_submission_checks_capabilities_and_the_trainer_adopts_the_jobs_algorithm(
    model_dir: Path, tmp_path: Path, etcd, etcd_client
) -> None:
    config = {
        "etcd": {"endpoint": etcd.endpoint, "lease_ttl_s": 2},
        "registration": {"job": JOB, "instance": "t0"}, "job": JOB,
        "model": str(model_dir), "out_dir": str(tmp_path / "run"), "checkpoint_every": 0,
        "deepspeed": {"micro_batch": 2, "global_batch_samples": 4, "lr": 1e-2},
    }  # fmt: skip
    (tmp_path / "trainer.yaml").write_text(yaml.safe_dump(config))
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"{i}+1="}) + "\n" for i in range(4)))
    trainer = ProcessHandle.python(
        "-m", "yatt.services.trainer", "--config", str(tmp_path / "trainer.yaml"), name="trainer"
    ).start()
    try:
        match = READY.search(await trainer.wait_for_line_async(READY, 150))
        assert match is not None
        members: dict = {}
        for _ in range(50):
            if members := await registered(etcd_client, JOB, "trainer"):
                break
            await asyncio.sleep(0.1)
        assert members["t0"].capabilities == {"critic": False}

        ppo = job_config(data, {"name": "ppo"})
        with pytest.raises(ConfigError, match=r"algorithm\.name: ppo needs a critic.*'t0'"):
            await submit(etcd_client, ppo, check_roles=False)
        assert await etcd_client.get(keys.config(JOB).encode()) is None  # nothing written

        async with make_channel(match.group(1)) as channel:
            stub = trainer_pb2_grpc.TrainerServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await push(stub, "0/0", version=0)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "algorithm is not known yet" in (err.value.details() or "")

            grpo = job_config(data, {"name": "grpo", "max_staleness": 0})
            await submit(etcd_client, grpo, check_roles=False)
            reply = await push(stub, "0/0", version=0)
            assert reply.stepped and reply.weight_version == 1  # type: ignore[attr-defined]
            # The job's max_staleness (0) governs admission now: version 0 is one too old.
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await push(stub, "0/1", version=0)
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "at most 0 versions" in (err.value.details() or "")
    finally:
        trainer.stop(timeout=30)
