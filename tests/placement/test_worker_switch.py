"""A real worker switches role while requests stream: every request gets exactly one answer.

Two workers serve `reference`; slot 0 is reassigned to `reward` mid-stream. Its reference
child drains (deregisters, refuses new calls UNAVAILABLE, finishes in-flight ones); clients
fail over to slot 1; then slot 0 serves reward.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path

import aetcd
import pytest
from _worker_helpers import start_worker, write_role_configs

from yatt import keys
from yatt.config.common import EtcdConfig
from yatt.contracts import WorkerMember, WorkerState
from yatt.controller.pool import RolePool
from yatt.placement.store import encode_assignment
from yatt.services.reference.client import ReferenceClient
from yatt.services.reference.core import TokenSequence
from yatt.services.reward.client import RewardClient
from yatt.services.reward.plugins.base import RewardSample

pytestmark = pytest.mark.integration

JOB = "switch"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from yatt.models.init import init_model

    return init_model("tiny", tmp_path_factory.mktemp("ref-model"), seed=0)


def sequences(i: int) -> list[TokenSequence]:
    # Four distinct contents, cycled: answers for the same content must agree everywhere.
    base = [(7 * (i % 4) + j) % 900 + 5 for j in range(48)]
    return [TokenSequence(f"req{i}-s{k}", tuple(base[k:] + base[:k]), 8) for k in range(6)]


async def worker_state(client: aetcd.Client, slot: int) -> WorkerMember | None:
    kv = await client.get(keys.member(JOB, "worker", f"slot-{slot}").encode())
    return None if kv is None else WorkerMember.decode(kv.value)


async def test_role_switch_loses_and_duplicates_nothing(
    tmp_path: Path, model_dir: Path, etcd_config: EtcdConfig, etcd_client: aetcd.Client
) -> None:
    config = write_role_configs(tmp_path, model_dir)
    for slot in (0, 1):
        await etcd_client.put(keys.assign(JOB, slot).encode(), encode_assignment("reference"))
    workers = [start_worker(slot, JOB, etcd_config, config) for slot in (0, 1)]
    pool = RolePool(etcd_client, JOB, "reference")
    try:
        for w in workers:
            await w.wait_for_line_async("serving reference", timeout=90)
        await pool.start()
        answers: Counter[int] = Counter()
        answered_by: dict[int, int] = {}
        started_at: dict[int, float] = {}
        finished_at: dict[int, float] = {}
        contents: dict[tuple[int, int], list[float]] = {}
        stop = asyncio.Event()
        next_id = iter(range(10**6))

        async def one(i: int) -> None:
            started_at[i] = time.monotonic()

            async def call(channel, member):
                results = await ReferenceClient(channel).logprobs(sequences(i), timeout_s=30)
                return results, member.slot

            results, slot = await pool.call(call, attempts=20, backoff_s=0.05, wait_s=30)
            answers[i] += 1
            answered_by[i], finished_at[i] = slot, time.monotonic()
            assert [r.id for r in results] == [s.id for s in sequences(i)]
            for k, r in enumerate(results):
                assert len(r.logprobs) == 48 - 8
                seen = contents.setdefault((i % 4, k), r.logprobs)
                assert r.logprobs == pytest.approx(seen, abs=1e-5)

        async def client_loop() -> None:
            while not stop.is_set():
                await one(next(next_id))

        loops = [asyncio.create_task(client_loop()) for _ in range(4)]
        await asyncio.sleep(1.5)
        assert 0 in answered_by.values(), "slot 0 served nothing before the switch"
        switched_at = time.monotonic()
        await etcd_client.put(keys.assign(JOB, 0).encode(), encode_assignment("reward"))
        await workers[0].wait_for_line_async("slot 0 starting reward", timeout=60)
        drained_at = time.monotonic()
        await workers[0].wait_for_line_async("serving reward", timeout=60)
        stop.set()
        await asyncio.gather(*loops)

        sent = max(answers) + 1
        assert set(answers) == set(range(sent)), "a request was lost"
        assert set(answers.values()) == {1}, "a request was answered twice"
        late = [i for i, s in answered_by.items() if s == 0 and finished_at[i] > switched_at]
        after = [i for i, t in started_at.items() if t > drained_at]
        assert after and all(answered_by[i] == 1 for i in after)
        print(f"{sent} requests; {len(late)} finished on slot 0 while it drained")

        # Slot 0 now serves reward for real.
        status = await worker_state(etcd_client, 0)
        assert status is not None and status.serving() == "reward"
        reward_pool = RolePool(etcd_client, JOB, "reward")
        await reward_pool.start()
        try:
            sample = RewardSample("s", "1+1?", "it is 2", {"answer": "2"})

            async def score(channel, member):
                return await RewardClient(channel).score([sample], timeout_s=30), member.slot

            results, slot = await reward_pool.call(score, attempts=5, backoff_s=0.1, wait_s=10)
            assert slot == 0 and results[0].total == 1.0
        finally:
            await reward_pool.close()
        assert "still running after" not in workers[0].output()
    finally:
        await pool.close()
        for w in workers:
            w.stop(timeout=20)
    out = workers[0].output()
    assert "slot 0 draining reference" in out and "worker slot 0 stopped" in out


async def test_worker_restarts_a_crashed_child_and_stops_cleanly(
    tmp_path: Path, model_dir: Path, etcd_config: EtcdConfig, etcd_client: aetcd.Client
) -> None:
    config = write_role_configs(tmp_path, model_dir)
    await etcd_client.put(keys.assign(JOB, 0).encode(), encode_assignment("reward"))
    worker = start_worker(0, JOB, etcd_config, config)
    try:
        await worker.wait_for_line_async("serving reward", timeout=60)
        before = await worker_state(etcd_client, 0)
        assert before is not None
        child_pid = before.children["reward"]
        os.kill(child_pid, signal.SIGKILL)
        await worker.wait_for_line_async("slot 0 restarting reward", timeout=10)
        deadline = time.monotonic() + 30
        while True:
            status = await worker_state(etcd_client, 0)
            if (
                status is not None
                and status.state == WorkerState.SERVING
                and status.children["reward"] != child_pid
            ):
                break
            assert time.monotonic() < deadline, worker.output()
            await asyncio.sleep(0.1)
        new_pid = status.children["reward"]
    finally:
        code = worker.stop(timeout=20)
    assert code == 0
    with pytest.raises(ProcessLookupError):
        os.kill(new_pid, 0)  # the worker stopped its child on the way out
    assert await worker_state(etcd_client, 0) is None
