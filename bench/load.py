"""Load benchmark: 1,000 concurrent Score and 1,000 concurrent Generate calls against one reward and
one rollout instance with a bounded queue; counts OK vs RESOURCE_EXHAUSTED, latency and RSS.

`python -m bench.load [--quick]`. ratio = worst (RSS after the burst) / (RSS idle); goal <= 1.5.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import psutil
import yaml

from yatt.codec.meta import pack
from yatt.process.handle import ProcessHandle
from yatt.protos import common_pb2, reward_pb2, reward_pb2_grpc, rollout_pb2, rollout_pb2_grpc

GOAL = 1.5
READY = "yatt {} serving on (\\S+)"


def start(name: str, *args: str) -> tuple[ProcessHandle, str]:
    proc = ProcessHandle.python("-m", "yatt.cli", "serve", name, *args, name=name).start()
    return proc, READY.format(name)


def wait(proc: ProcessHandle, pattern: str) -> str:
    return re.search(pattern, proc.wait_for_line(re.compile(pattern), timeout=180)).group(1)  # type: ignore[union-attr]


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


async def burst(make_call: Any, calls: int, pid: int) -> dict[str, Any]:
    """Fires `calls` at once; samples the server's RSS every 20 ms while they run."""
    peak = rss_mb(pid)
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb(pid))
            await asyncio.sleep(0.02)

    async def one() -> tuple[str, float]:
        t0 = time.perf_counter()
        try:
            await make_call()
            code = "OK"
        except grpc.aio.AioRpcError as err:
            code = err.code().name
        return code, time.perf_counter() - t0

    sampler = asyncio.create_task(sample())
    t0 = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(calls)))
    wall = time.perf_counter() - t0
    done.set()
    await sampler
    codes = Counter(code for code, _ in results)
    ok = sorted(lat for code, lat in results if code == "OK")
    refused = sorted(lat for code, lat in results if code == "RESOURCE_EXHAUSTED")

    def pct(xs: list[float], q: float) -> float | None:
        return round(1000 * xs[min(len(xs) - 1, int(q * len(xs)))], 2) if xs else None

    return {
        "calls": calls,
        "codes": dict(codes),
        "ok": codes["OK"],
        "resource_exhausted": codes["RESOURCE_EXHAUSTED"],
        "ok_p50_ms": pct(ok, 0.5),
        "ok_p99_ms": pct(ok, 0.99),
        "ok_mean_ms": round(1000 * statistics.fmean(ok), 2) if ok else None,
        "refused_p50_ms": pct(refused, 0.5),
        "wall_s": round(wall, 3),
        "rss_during_peak_mb": round(peak, 1),
    }


async def run_role(
    name: str, endpoint: str, pid: int, calls: int, rounds: int, request: Any
) -> dict[str, Any]:
    limit = 64 << 20
    opts = [("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)]
    async with grpc.aio.insecure_channel(endpoint, options=opts) as channel:
        if name == "reward":
            stub = reward_pb2_grpc.RewardServiceStub(channel)

            async def make_call() -> None:
                await stub.Score(request, timeout=120)
        else:
            stub = rollout_pb2_grpc.RolloutServiceStub(channel)

            async def make_call() -> None:
                async for _ in stub.Generate(request, timeout=120):
                    pass

        for _ in range(3):  # warm-up: first calls load code paths and allocator pools
            await make_call()
        idle = rss_mb(pid)
        out: dict[str, Any] = {"rss_idle_mb": round(idle, 1), "rounds": []}
        for _ in range(rounds):
            out["rounds"].append(await burst(make_call, calls, pid))
        await asyncio.sleep(1.0)  # let the last replies and their buffers go
        out["rss_after_mb"] = round(rss_mb(pid), 1)
        out["rss_ratio"] = round(out["rss_after_mb"] / idle, 3)
        out["rss_peak_ratio"] = round(max(r["rss_during_peak_mb"] for r in out["rounds"]) / idle, 3)
        # A valid call still answers after the bursts.
        await make_call()
    return out


def table(results: dict[str, Any], queue: dict[str, int]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"bench.load: bounded queue (max_concurrency={queue['max_concurrency']}, "
                    f"max_queue={queue['max_queue']})")  # fmt: skip
    for col in ("role", "round", "calls", "OK", "RESOURCE_EXHAUSTED", "other", "OK p50 ms",
                "OK p99 ms", "refused p50 ms", "wall s", "RSS idle", "RSS peak", "RSS after"):  # fmt: skip
        t.add_column(col, justify="right")
    for role, res in results.items():
        for i, r in enumerate(res["rounds"]):
            other = r["calls"] - r["ok"] - r["resource_exhausted"]
            t.add_row(role, str(i + 1), str(r["calls"]), str(r["ok"]), str(r["resource_exhausted"]),
                      str(other), str(r["ok_p50_ms"]), str(r["ok_p99_ms"]), str(r["refused_p50_ms"]),
                      str(r["wall_s"]), f"{res['rss_idle_mb']:.0f} MiB",
                      f"{r['rss_during_peak_mb']:.0f} MiB", f"{res['rss_after_mb']:.0f} MiB")  # fmt: skip
    Console(width=160).print(t)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--quick", action="store_true", help="one burst per role (under ~2 min)")
    parser.add_argument("--calls", type=int, default=1000, help="concurrent calls per burst")
    parser.add_argument("--max-concurrency", type=int, default=8)
    parser.add_argument("--max-queue", type=int, default=64)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rounds = 1 if args.quick else 3
    queue = {"max_concurrency": args.max_concurrency, "max_queue": args.max_queue}
    server = [f"--set=server.{k}={v}" for k, v in queue.items()]
    tmp = Path(tempfile.mkdtemp(prefix="yatt-bench-load-"))
    from yatt.models.init import init_model

    model = init_model("tiny", tmp / "tiny", seed=0)
    reward_cfg = tmp / "reward.yaml"
    reward_cfg.write_text(yaml.safe_dump({"functions": [{"name": "exact_answer"}], "threads": 1}))
    procs = {
        "reward": start("reward", "--config", str(reward_cfg), *server),
        "rollout": start("rollout", f"--set=model.path={model}", "--set=threads=1", *server),
    }
    score = reward_pb2.ScoreRequest(
        samples=[
            reward_pb2.ScoreSample(
                id="a", prompt="7+12=", completion="\\boxed{19}", metadata=pack({"answer": "19"})
            )
        ]  # fmt: skip
    )
    generate = rollout_pb2.GenerateRequest(
        prompts=[common_pb2.Prompt(id="p", text="12+7=")],
        params=rollout_pb2.SamplingParams(max_new_tokens=4, temperature=1.0, n=1),
    )
    results: dict[str, Any] = {}
    try:
        endpoints = {role: wait(proc, pattern) for role, (proc, pattern) in procs.items()}
        # Score of one sample takes ~1 ms, faster than one client can issue calls; a 256-sample
        # Score holds its slot long enough that 1,000 callers really queue.
        batch = reward_pb2.ScoreRequest(samples=list(score.samples) * 256)
        runs = [("reward", "reward", score), ("reward", "reward (256/call)", batch),
                ("rollout", "rollout", generate)]  # fmt: skip
        for role, label, request in runs:
            pid = procs[role][0].pid
            results[label] = asyncio.run(
                run_role(role, endpoints[role], pid, args.calls, rounds, request)
            )
            assert procs[role][0].alive(), procs[role][0].output()[-3000:]
    finally:
        for proc, _ in procs.values():
            proc.stop()
    table(results, queue)
    ratio = max(r["rss_ratio"] for r in results.values())
    admitted = queue["max_concurrency"] + queue["max_queue"]
    only_ok_or_refused = all(
        r["ok"] + r["resource_exhausted"] == r["calls"]
        for res in results.values() for r in res["rounds"]
    )  # fmt: skip
    print(json.dumps({
        "bench": "load", "ratio": ratio, "goal": GOAL, "ratio_def": "max over roles of RSS after "
        "the bursts / RSS idle (<= goal: memory bounded)", "met": ratio <= GOAL,
        "queue": queue, "admitted_at_once": admitted, "only_ok_or_resource_exhausted": only_ok_or_refused,
        "quick": args.quick, "results": results,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
