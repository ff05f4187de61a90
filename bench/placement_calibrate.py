"""Measured rates for the placement benchmark's model: per-item service times of the real
rollout (hf), reward (exact_answer, generative judge) and reference services, and the time a
real worker takes to switch roles, all on the tiny model on this machine's CPU.

One item is one prompt group (GROUP samples, up to MAX_NEW tokens each), as a controller sends
it. Services run as separate processes and are called over gRPC one request at a time (a slot
serves serially), so the times include the RPC. `python -m bench.placement_calibrate`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import yaml  # noqa: E402

from yatt import keys  # noqa: E402
from yatt.config.common import EtcdConfig  # noqa: E402
from yatt.coordination.client import connect  # noqa: E402
from yatt.placement.store import encode_assignment  # noqa: E402
from yatt.process.handle import ProcessHandle  # noqa: E402
from yatt.protos import (  # noqa: E402
    common_pb2,
    reference_pb2_grpc,
    reward_pb2_grpc,
    rollout_pb2,
    rollout_pb2_grpc,  # noqa: E402
)
from yatt.rpc.channel import make_channel  # noqa: E402
from yatt.services.reference import convert as ref_convert  # noqa: E402
from yatt.services.reference.core import TokenSequence  # noqa: E402
from yatt.services.reward import convert as reward_convert  # noqa: E402
from yatt.services.reward.plugins.base import RewardSample  # noqa: E402
from yatt.testing.etcd import EtcdServer  # noqa: E402

GROUP, MAX_NEW = 8, 32  # one item: a prompt group of 8 samples, up to 32 new tokens each
ONE_DEVICE = {"max_concurrency": 1}  # a slot serves one request at a time


def _configs(root: Path, model: Path) -> dict[str, Path]:
    """Service configs by name: rollout, reward (rule), reference; the judge's is written later."""
    cfgs = {
        "rollout": {"model": {"path": str(model)}, "engine": "hf", "threads": 1},
        "reward": {"functions": [{"name": "exact_answer"}]},
        "reference": {"model": {"path": str(model)}, "threads": 1},
    }
    out = {}
    for name, cfg in cfgs.items():
        out[name] = root / f"{name}.yaml"
        out[name].write_text(yaml.safe_dump({**cfg, "server": ONE_DEVICE}))  # type: ignore[dict-item]
    return out


def _serve(role: str, config: Path) -> tuple[ProcessHandle, str]:
    proc = ProcessHandle.python("-m", "yatt.cli", "serve", role, "--config", str(config))
    proc.start()
    line = proc.wait_for_line(f"yatt {role} serving on", timeout=180)
    return proc, line.rsplit(" ", 1)[-1].strip()


async def _timed(call: Callable[[], Awaitable[object]], rounds: int) -> tuple[float, float]:
    """(median seconds, coefficient of variation) of `rounds` sequential calls after a warm-up."""
    await call()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        await call()
        times.append(time.perf_counter() - start)
    spread = statistics.stdev(times) / statistics.mean(times) if len(times) > 1 else 0.0
    return statistics.median(times), spread


async def service_times(root: Path, model: Path, rounds: int) -> dict[str, tuple[float, float]]:
    """(seconds per item, its coefficient of variation) for rollout, reward (rule), judge
    (generative) and reference, and the completions' mean length."""
    cfgs = _configs(root, model)
    procs: list[ProcessHandle] = []
    try:
        ends = {}
        for role in ("rollout", "reward", "reference"):
            proc, ends[role] = _serve(role, cfgs[role])
            procs.append(proc)
        judge_cfg = root / "judge.yaml"
        judge = {
            "name": "judge",
            "options": {"endpoint": ends["rollout"], "max_new_tokens": MAX_NEW},
        }
        judge_cfg.write_text(yaml.safe_dump({"functions": [judge], "server": ONE_DEVICE}))
        proc, ends["judge"] = _serve("reward", judge_cfg)
        procs.append(proc)
        chans = {name: make_channel(end) for name, end in ends.items()}
        rollout = rollout_pb2_grpc.RolloutServiceStub(chans["rollout"])
        request = rollout_pb2.GenerateRequest(
            prompts=[common_pb2.Prompt(id="p", text="Q: 12+30= A:")],
            params=rollout_pb2.SamplingParams(temperature=1.0, max_new_tokens=MAX_NEW, n=GROUP),
        )
        group = [c async for c in rollout.Generate(request, timeout=120)]
        samples = [
            RewardSample(f"s{i}", "Q: 12+30= A:", c.text, {"answer": "42"})
            for i, c in enumerate(group)
        ]
        score = reward_convert.request_to_proto(samples)
        seqs = ref_convert.request_to_proto(
            [
                TokenSequence(f"s{i}", (*c.prompt_token_ids, *c.token_ids), len(c.prompt_token_ids))
                for i, c in enumerate(group)
            ]
        )
        reward = reward_pb2_grpc.RewardServiceStub(chans["reward"])
        judge_stub = reward_pb2_grpc.RewardServiceStub(chans["judge"])
        reference = reference_pb2_grpc.ReferenceServiceStub(chans["reference"])

        async def generate() -> None:
            [c async for c in rollout.Generate(request, timeout=120)]

        out = {
            "rollout": await _timed(generate, rounds),
            "reward": await _timed(lambda: reward.Score(score, timeout=60), rounds),
            "judge": await _timed(lambda: judge_stub.Score(score, timeout=120), rounds),
            "reference": await _timed(lambda: reference.LogProbs(seqs, timeout=60), rounds),
            "completion_tokens": (statistics.mean(len(c.token_ids) for c in group), 0.0),
        }
        for chan in chans.values():
            await chan.close()
        return out
    finally:
        for proc in procs:
            proc.stop(timeout=30)


async def _new_line(proc: ProcessHandle, text: str, after: int, timeout: float) -> None:
    """Waits for a line containing `text` among those printed after the first `after`."""
    deadline = time.monotonic() + timeout
    while not any(text in line for line in proc.output().splitlines()[after:]):
        if time.monotonic() > deadline or not proc.alive():
            raise TimeoutError(f"{proc.name}: no {text!r}:\n{proc.output()[-3000:]}")
        await asyncio.sleep(0.05)


async def switch_times(root: Path, model: Path) -> dict[str, float]:
    """Seconds from an assignment change to the worker serving the new role, per new role."""
    cfgs = _configs(root, model)
    worker_cfg = root / "worker.yaml"
    roles = {r: {"config": str(p)} for r, p in cfgs.items()}
    worker_cfg.write_text(yaml.safe_dump({"roles": roles, "stop_timeout_s": 30}))
    job = "calibrate"
    with EtcdServer() as etcd:
        cfg = EtcdConfig(endpoint=etcd.endpoint, lease_ttl_s=2)
        client = await connect(cfg)
        await client.put(keys.assign(job, 0).encode(), encode_assignment("reward"))
        argv = ["-m", "yatt.services.worker", "--slot", "0", "--job", job, "--etcd"]
        argv += [etcd.endpoint, "--config", str(worker_cfg), "--set", "etcd.lease_ttl_s=2"]
        worker = ProcessHandle.python(*argv, name="worker-0").start()
        out: dict[str, float] = {}
        try:
            await worker.wait_for_line_async("slot 0 serving reward", timeout=180)
            for role in ("rollout", "reference", "reward"):
                before = len(worker.output().splitlines())
                start = time.perf_counter()
                await client.put(keys.assign(job, 0).encode(), encode_assignment(role))
                await _new_line(worker, f"slot 0 serving {role}", before, timeout=180)
                out[role] = time.perf_counter() - start
        finally:
            worker.stop(timeout=30)
            await client.close()
        return out


async def calibrate(rounds: int = 5) -> dict:
    """{"item": description, "item_s": {service: s}, "item_cv": {service: cv}, "switch_s":
    {new role: s}} measured on this machine."""
    from yatt.models.init import init_model

    with tempfile.TemporaryDirectory(prefix="yatt-calibrate-") as tmp:
        root = Path(tmp)
        model = init_model("tiny", root / "model", seed=0)
        items = await service_times(root, model, rounds)
        switches = await switch_times(root, model)
    tokens, _ = items.pop("completion_tokens")
    return {
        "item": f"one prompt group: {GROUP} samples, <= {MAX_NEW} new tokens "
        f"(mean {tokens:.1f}), tiny model, CPU, 1 thread",
        "item_s": {name: s for name, (s, _) in items.items()},
        "item_cv": {name: cv for name, (_, cv) in items.items()},
        "switch_s": switches,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed calls per service")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    rates = asyncio.run(calibrate(args.rounds))
    if args.out:
        args.out.write_text(json.dumps(rates, indent=1))
    print(json.dumps(rates))


if __name__ == "__main__":
    main()
