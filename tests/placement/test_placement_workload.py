"""The whole loop on real processes: reward turns slow, a slot moves rollout -> reward; when
the load returns, it moves back. Real etcd, placement, workers, rollout (sim engine) and
reward (sim judge) services; the test drives a rollout -> reward pipeline through them.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import aetcd
import pytest
import yaml
from _worker_helpers import start_worker

from yatt import keys
from yatt.config.common import EtcdConfig
from yatt.controller.pool import RolePool
from yatt.placement.history import read_history
from yatt.placement.store import read_assignments
from yatt.process.handle import ProcessHandle
from yatt.services.reward.client import RewardClient
from yatt.services.reward.plugins.base import RewardSample
from yatt.services.rollout.client import RolloutClient
from yatt.services.rollout.core import GenerateRequest, PromptRequest
from yatt.services.rollout.engines.base import SamplingParams

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

JOB = "workload"
# Service-time model (sim engine and sim judge), per slot and serial like one device:
STEP_S = 0.004  # rollout: 4 ms per decode step, ~20 steps per completion -> ~12 items/s
JUDGE_S = 0.02  # reward: 20 ms per judged sample
FAST, SLOW = 1, 16  # judged samples per completion: judge off / on (16 votes)


def write_configs(root: Path, model_dir: Path, etcd: EtcdConfig) -> tuple[Path, Path]:
    rollout = {"model": {"path": str(model_dir)}, "engine": "sim",
               "engine_options": {"step_s": STEP_S, "row_step_s": 0.0, "prefill_s_per_token": 0.0}}  # fmt: skip
    reward = {"functions": [{"name": "sim", "options": {"base_s": 0.0, "per_sample_s": JUDGE_S}}]}
    for name, cfg in (("rollout", rollout), ("reward", reward)):
        cfg["server"] = {"max_concurrency": 1, "grace_s": 10}  # one device: serve one at a time
        (root / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
    worker = {"roles": {r: {"config": str(root / f"{r}.yaml")} for r in ("rollout", "reward")},
              "stop_timeout_s": 20}  # fmt: skip
    (root / "worker.yaml").write_text(yaml.safe_dump(worker))
    placement = {
        "job": JOB, "slots": 3, "tick_s": 0.5,
        "roles": {"rollout": {"initial": 2}, "reward": {"initial": 1}},
        "policy": {"params": {"threshold": 0.2, "cooldown_s": 3.0, "min_wait_s": 0.5}},
        "estimator": {"window_s": 3.0},
        "etcd": {"endpoint": etcd.endpoint, "lease_ttl_s": 2},
    }  # fmt: skip
    (root / "placement.yaml").write_text(yaml.safe_dump(placement, sort_keys=False))
    return root / "worker.yaml", root / "placement.yaml"


class Pipeline:
    """Items flow rollout (Generate one prompt) -> reward (Score `judge` samples of it)."""

    def __init__(self, client: aetcd.Client, concurrency: int) -> None:
        self.rollout = RolePool(client, JOB, "rollout")
        self.reward = RolePool(client, JOB, "reward")
        self.concurrency = concurrency
        self.judge = FAST
        self.done = Counter[str]()
        self.stop = asyncio.Event()

    async def item(self, i: int) -> None:
        request = GenerateRequest(
            [PromptRequest(f"p{i}", token_ids=(5, 6, 7, 8))],
            SamplingParams(max_new_tokens=32, n=1, temperature=1.0),
        )

        async def generate(channel, _):
            return [c async for c in RolloutClient(channel).generate(request, timeout_s=60)]

        [completion] = await self.rollout.call(generate, attempts=20, backoff_s=0.05, wait_s=60)
        judged = [RewardSample(f"p{i}-{k}", "", completion.text) for k in range(self.judge)]

        async def score(channel, _):
            return await RewardClient(channel).score(judged, timeout_s=60)

        results = await self.reward.call(score, attempts=20, backoff_s=0.05, wait_s=60)
        assert len(results) == len(judged)
        self.done["slow" if len(judged) == SLOW else "fast"] += 1

    async def run(self) -> None:
        await self.rollout.start()
        await self.reward.start()
        ids = iter(range(10**9))

        async def loop() -> None:
            while not self.stop.is_set():
                await self.item(next(ids))

        try:
            await asyncio.gather(*(loop() for _ in range(self.concurrency)))
        finally:
            await self.rollout.close()
            await self.reward.close()


async def wait_move(client: aetcd.Client, n: int, timeout: float) -> list:
    deadline = time.monotonic() + timeout
    while len(history := await read_history(client, JOB)) < n:
        assert time.monotonic() < deadline, f"no move #{n} within {timeout}s: {history}"
        await asyncio.sleep(0.2)
    return history


async def test_slot_follows_the_slow_reward_and_comes_back(
    tmp_path: Path, etcd_config: EtcdConfig, etcd_client: aetcd.Client
) -> None:
    from yatt.models.init import init_model

    model_dir = init_model("tiny", tmp_path / "model", seed=0)
    worker_cfg, placement_cfg = write_configs(tmp_path, model_dir, etcd_config)
    procs: list[ProcessHandle] = []
    never_empty: list[dict[str, int]] = []
    try:
        procs.append(
            ProcessHandle.python(
                "-m", "yatt.placement", "run", "--config", str(placement_cfg)
            ).start()
        )
        await procs[0].wait_for_line_async("yatt placement leading", timeout=60)
        procs += [start_worker(slot, JOB, etcd_config, worker_cfg) for slot in range(3)]
        start = await read_assignments(etcd_client, JOB)
        assert sorted(start.values()) == ["reward", "rollout", "rollout"]
        for slot, proc in enumerate(procs[1:]):
            await proc.wait_for_line_async(f"serving {start[slot]}", timeout=120)
        pipeline = Pipeline(etcd_client, concurrency=12)
        driver = asyncio.create_task(pipeline.run())

        async def watch_serving() -> None:
            while True:
                counts = Counter[str]()
                for kv in await etcd_client.get_prefix(keys.members_prefix(JOB).encode()):
                    counts[kv.key.decode().split("/")[-2]] += 1
                never_empty.append({r: counts[r] for r in ("rollout", "reward")})
                await asyncio.sleep(0.2)

        watcher = asyncio.create_task(watch_serving())
        await asyncio.sleep(4.0)  # rollout-heavy phase: reward has its only slot; nothing moves
        assert await read_history(etcd_client, JOB) == []
        pipeline.judge = SLOW  # the generative judge is switched on
        [first] = await wait_move(etcd_client, 1, timeout=40)
        assert (first.from_role, first.to_role) == ("rollout", "reward"), first
        assert sorted((await read_assignments(etcd_client, JOB)).values()) == [
            "reward", "reward", "rollout",
        ]  # fmt: skip
        await procs[1 + first.slot].wait_for_line_async("serving reward", timeout=60)
        await asyncio.sleep(2.0)
        pipeline.judge = FAST  # the judge is off again: rollout is the bottleneck
        history = await wait_move(etcd_client, 2, timeout=40)
        assert (history[1].from_role, history[1].to_role) == ("reward", "rollout"), history
        pipeline.stop.set()
        await asyncio.wait_for(driver, 60)
        watcher.cancel()
        assert pipeline.done["slow"] > 0 and pipeline.done["fast"] > 0
        # Every reading after start-up saw both roles registered: no role was left without a slot.
        assert never_empty and all(c["rollout"] >= 1 and c["reward"] >= 1 for c in never_empty)
        status = ProcessHandle.python(
            "-m", "yatt.cli", "placement", "status", "--job", JOB, "--etcd", etcd_config.endpoint
        ).start()
        await status.wait_for_line_async("moves", timeout=30)
        status.stop(timeout=30)
        assert "rollout" in status.output() and "gain" in status.output()
        print("\n".join(f"{m.from_role} -> {m.to_role}: {m.reason}" for m in history))
    finally:
        for proc in procs:
            proc.stop(timeout=30)
