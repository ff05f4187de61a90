"""Weight-sync benchmark: MB/s of a full weight transfer trainer -> rollout processes per transport
(grpc: LoadWeights chunk stream; shm: one /dev/shm segment + manifest), to 1..4 instances on this
host, beside memcpy MB/s measured in the same run.

`python -m bench.weight_sync [--quick]` prints a table and, last, one JSON line
{"bench": "weight_sync", "ratio": shm MB/s / memcpy MB/s at the largest size with one instance,
 "goal": 0.3, "four_over_one": shm time to 4 instances / time to 1 (goal < 2), ...}.
A push's time runs from the trainer's snapshot to the last acknowledgement: for shm it includes
writing the segment (and its checksum), each rollout's verification and copy into its model.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
import yaml  # noqa: E402

from yatt.models.init import init_model  # noqa: E402
from yatt.models.load import load_causal_lm  # noqa: E402
from yatt.models.presets import ModelPreset  # noqa: E402
from yatt.process.handle import ProcessHandle  # noqa: E402
from yatt.services.rollout.client import RolloutClient  # noqa: E402
from yatt.services.trainer.modules import policy_tensors  # noqa: E402
from yatt.transport.base import WeightSender  # noqa: E402
from yatt.transport.grpc import GrpcSender  # noqa: E402
from yatt.transport.shm import ShmSender  # noqa: E402

# Sizes the issue asks for: ~1M, ~25M and ~100M parameters (head_dim 64 throughout).
SIZES = {
    "1M": ModelPreset("bench-1m", 128, 4, 2, 2, 384, 1024, 512),
    "25M": ModelPreset("bench-25m", 512, 8, 8, 4, 1536, 4096, 1024),
    "100M": ModelPreset("bench-100m", 768, 14, 12, 4, 2304, 4096, 1024),
}
GOAL = 0.3  # shm at the largest size, one instance, as a fraction of memcpy
FOUR_OVER_ONE_GOAL = 2.0
CHUNK_BYTES = 4 << 20
MAX_MESSAGE = 64 << 20
READY = re.compile(r"yatt rollout serving on (\S+)")


def memcpy_mbps(nbytes: int, repeats: int = 5) -> float:
    src = torch.empty(nbytes, dtype=torch.uint8).random_()
    dst = torch.empty_like(src)
    dst.copy_(src)  # fault the pages in before timing
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - start)
    return nbytes / best / 1e6


async def start_rollouts(
    model_dir: Path, work: Path, n: int
) -> tuple[list[ProcessHandle], list[str]]:
    config = work / f"rollout-{model_dir.name}.yaml"
    config.write_text(
        yaml.safe_dump({"model": {"path": str(model_dir)}, "engine": "hf", "threads": 1})
    )
    procs = [
        ProcessHandle.python("-m", "yatt.services.rollout", "--config", str(config), name=f"r{i}")
        for i in range(n)
    ]
    for p in procs:
        p.start()
    lines = await asyncio.gather(*(p.wait_for_line_async(READY, timeout=600) for p in procs))
    return procs, [READY.search(line).group(1) for line in lines]  # type: ignore[union-attr]


async def push(sender: WeightSender, version: int, tensors: dict, endpoints: list[str]) -> float:
    """Seconds from snapshot to the last acknowledgement (publish once, send to all at once)."""
    start = time.perf_counter()
    manifest = await asyncio.to_thread(sender.publish, version, tensors)
    rollouts = [RolloutClient.connect(e, MAX_MESSAGE) for e in endpoints]
    try:
        replies = await asyncio.gather(
            *(sender.send(r, manifest, tensors, timeout_s=600) for r in rollouts)
        )
    finally:
        await asyncio.gather(*(r.close() for r in rollouts))
    elapsed = time.perf_counter() - start
    assert all(r.weight_version == version and r.bytes == manifest.nbytes for r in replies), replies
    return elapsed


async def measure(model_dir: Path, work: Path, counts: list[int], repeats: int) -> list[tuple]:
    """Rows (transport, instances, bytes, best seconds) for one model."""
    lm = load_causal_lm(model_dir)
    tensors = policy_tensors(lm)
    del lm
    nbytes = sum(t.numel() * t.element_size() for t in tensors.values())
    procs, endpoints = await start_rollouts(model_dir, work, max(counts))
    version = 0
    rows = []
    senders: list[WeightSender] = [GrpcSender(CHUNK_BYTES), ShmSender("bench")]
    try:
        for sender in senders:
            for n in counts:
                best = float("inf")
                for _ in range(repeats):
                    version += 1
                    best = min(best, await push(sender, version, tensors, endpoints[:n]))
                rows.append((sender.name, n, nbytes, best))
    finally:
        for sender in senders:
            sender.close()
        for p in procs:
            p.stop(timeout=30)
    return rows


async def main(quick: bool) -> dict[str, object]:
    sizes = ["1M", "25M"] if quick else list(SIZES)
    counts = [1, 4] if quick else [1, 2, 4]
    repeats = 2 if quick else 3
    table = []
    with tempfile.TemporaryDirectory(prefix="yatt-bench-") as tmp:
        work = Path(tmp)
        for size in sizes:
            model_dir = init_model(SIZES[size], work / size, seed=0)
            params = sum(p.numel() for p in load_causal_lm(model_dir).parameters())
            rows = await measure(model_dir, work, counts, repeats)
            copy_rate = memcpy_mbps(rows[0][2])
            table += [(size, params, *row, copy_rate) for row in rows]
    print(
        f"{'model':>6} {'params':>12} {'MB':>8} {'transport':>9} {'inst':>4} {'s':>8} "
        f"{'MB/s':>9} {'memcpy MB/s':>12} {'ratio':>7}"
    )
    for size, params, name, n, nbytes, secs, copy_rate in table:
        rate = nbytes / secs / 1e6
        print(
            f"{size:>6} {params:>12,} {nbytes / 1e6:>8.1f} {name:>9} {n:>4} {secs:>8.4f} "
            f"{rate:>9.1f} {copy_rate:>12.1f} {rate / copy_rate:>7.3f}"
        )
    last = sizes[-1]
    at = {
        (name, n): (nbytes, secs, copy) for s, _, name, n, nbytes, secs, copy in table if s == last
    }
    nbytes, shm1, copy_rate = at[("shm", 1)]
    shm_rate = nbytes / shm1 / 1e6
    grpc_rate = nbytes / at[("grpc", 1)][1] / 1e6
    four_over_one = at[("shm", 4)][1] / shm1
    return {
        "bench": "weight_sync",
        "ratio": round(shm_rate / copy_rate, 4),
        "goal": GOAL,
        "met": shm_rate / copy_rate >= GOAL,
        "four_over_one": round(four_over_one, 3),
        "four_over_one_goal": FOUR_OVER_ONE_GOAL,
        "four_over_one_met": four_over_one < FOUR_OVER_ONE_GOAL,
        "at": last,
        "shm_MBps": round(shm_rate, 1),
        "grpc_MBps": round(grpc_rate, 1),
        "grpc_ratio": round(grpc_rate / copy_rate, 4),
        "memcpy_MBps": round(copy_rate, 1),
        "cpus": os.cpu_count(),
        "quick": quick,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1M and 25M, 1 and 4 instances.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(json.dumps(asyncio.run(main(args.quick))))
