"""Weight push: a trainer process with push_weights finds a rollout process through etcd and
sends it every new version over LoadWeights; both record the acknowledged version."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import yaml
from trainer_helpers import make_experience

from yatt import keys
from yatt.codec.meta import unpack
from yatt.contracts import TrainerMember
from yatt.process.handle import ProcessHandle
from yatt.services.rollout.client import RolloutClient
from yatt.services.trainer.client import TrainerClient

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]

READY = re.compile(r"yatt (\w+) serving on (\S+)")


@pytest.fixture(scope="module")
def hub_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from yatt.models.init import init_model

    return init_model("tiny", tmp_path_factory.mktemp("tiny-tok"), seed=0)


def child(module: str, config: dict, path: Path) -> ProcessHandle:
    path.write_text(yaml.safe_dump(config))
    return ProcessHandle.python("-m", module, "--config", str(path), name=module.rsplit(".", 1)[-1])


async def test_new_versions_reach_registered_rollout(
    hub_model: Path, tmp_path: Path, etcd, etcd_client
) -> None:
    job = "push"
    common = {"etcd": {"endpoint": etcd.endpoint, "lease_ttl_s": 2}}
    rollout = child(
        "yatt.services.rollout",
        {
            **common,
            "registration": {"job": job, "instance": "r0"},
            "model": {"path": str(hub_model)},
        },
        tmp_path / "rollout.yaml",
    )
    trainer = child(
        "yatt.services.trainer",
        {
            **common, "registration": {"job": job, "instance": "t0"}, "job": job,
            "model": str(hub_model), "out_dir": str(tmp_path / "run"), "push_weights": True,
            "checkpoint_every": 0,
            "deepspeed": {"micro_batch": 2, "global_batch_samples": 4, "lr": 1e-2},
        },
        tmp_path / "trainer.yaml",
    )  # fmt: skip
    # A registered trainer reads its algorithm from the job's config (what `yatt train` writes).
    config = yaml.safe_dump({"job": job, "algorithm": {"name": "grpo"}})
    await etcd_client.put(keys.config(job).encode(), config.encode())
    rollout.start()
    trainer.start()
    try:
        lines = await asyncio.gather(
            rollout.wait_for_line_async(READY, 150), trainer.wait_for_line_async(READY, 150)
        )
        r_end, t_end = (READY.search(line).group(2) for line in lines)  # type: ignore[union-attr]
        async with TrainerClient.connect(t_end) as tclient, RolloutClient.connect(r_end) as rclient:
            exp = make_experience("0/0", job=job, seed=0)
            reply = await tclient.push_experience(exp.header, exp.tensors(), timeout_s=60)
            assert reply.stepped and reply.weight_version == 1
            for _ in range(150):
                info = await rclient.info(timeout_s=5)
                if info.weight_version == 1:
                    break
                await asyncio.sleep(0.2)
            assert info.weight_version == 1
            for _ in range(50):  # the trainer records the ack in its etcd member record
                kv = await etcd_client.get(keys.member(job, "trainer", "t0").encode())
                member = TrainerMember.decode(kv.value) if kv else TrainerMember()
                if member.acked == {"r0": 1}:
                    break
                await asyncio.sleep(0.2)
            assert member.acked == {"r0": 1} and member.weight_version == 1
            progress = unpack((await etcd_client.get(keys.trainer(job).encode())).value)
            assert progress["step"] == 1 and progress["weight_version"] == 1
    finally:
        trainer.stop(timeout=30)
        rollout.stop(timeout=30)
