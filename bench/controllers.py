"""Controller scaling: samples/s with 1, 2 and 4 controllers, with a 1 MB payload per sample and
without, each measured over the same window on a fresh local cluster.

The services run the clearly labelled `sim` engines (rollout: services/rollout/engines/sim.py,
reward: services/reward/plugins/sim.py) so the controllers are the thing measured; the trainer
is the real one (DeepSpeed, journal and ledger) with a global batch too large to step, so it
only journals. `python -m bench.controllers [--quick]`; a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from yatt import keys  # noqa: E402
from yatt.cluster.local import LocalCluster  # noqa: E402
from yatt.config import load_config  # noqa: E402
from yatt.config.common import EtcdConfig  # noqa: E402
from yatt.controller.config import JobConfig  # noqa: E402
from yatt.coordination.claims import decode_shard  # noqa: E402
from yatt.coordination.client import connect  # noqa: E402
from yatt.jobs import registered, submit  # noqa: E402
from yatt.models.init import init_model  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# The sim engines' time model (seconds); see their module docstrings.
ROLLOUT_SIM = {"prefill_s_per_token": 2e-5, "step_s": 2e-3, "row_step_s": 2e-4}
REWARD_SIM = {"base_s": 0.002, "per_sample_s": 0.001, "p_correct": 0.5}
PROMPTS, SHARD, N, MAX_NEW = 64, 4, 4, 32


def write_dataset(path: Path, payload_bytes: int) -> Path:
    payload = os.urandom(payload_bytes) if payload_bytes else b""
    table = pa.table(
        {
            "prompt": [f"{i % 10}+{i % 7}=" for i in range(PROMPTS)],
            "answer": [str(i % 10 + i % 7) for i in range(PROMPTS)],
            "payload": pa.array([payload] * PROMPTS, type=pa.binary()),
        }
    )
    pq.write_table(table, path)
    return path


def start_cluster(root: Path, model: Path, job: str) -> LocalCluster:
    cluster = LocalCluster(root / job, job=job, lease_ttl_s=5)
    cluster.start_etcd()
    trainer_env = {
        "DS_ACCELERATOR": "cpu",
        "TORCH_EXTENSIONS_DIR": os.environ.get(
            "TORCH_EXTENSIONS_DIR", str(REPO / ".torch_extensions")
        ),
    }
    cluster.serve("trainer", "trainer", {
        "job": job, "model": str(model), "out_dir": str(root / job / "trainer"),
        "deepspeed": {"zero_stage": 1, "micro_batch": 4, "global_batch_samples": 1_000_000},
        "push_weights": False, "checkpoint_every": 1_000_000,
    }, wait=False, env=trainer_env)  # fmt: skip
    for i in range(2):
        cluster.serve("rollout", f"rollout-{i}", {
            "model": {"path": str(model)}, "engine": "sim", "engine_options": ROLLOUT_SIM,
            "engine_concurrency": 64, "server": {"max_concurrency": 64, "max_queue": 256},
        }, wait=False)  # fmt: skip
        cluster.serve("reward", f"reward-{i}", {
            "functions": [{"name": "sim", "options": REWARD_SIM}],
            "server": {"max_concurrency": 64, "max_queue": 256},
        }, wait=False)  # fmt: skip
    for name in list(cluster.processes):
        cluster.wait_ready(name, timeout=300)
    return cluster


async def measure(cluster: LocalCluster, data: Path, controllers: int, window_s: float) -> dict:
    job = load_config(
        JobConfig,
        data={
            "job": cluster.job,
            "data": {"path": str(data), "metadata_columns": ["answer"], "payload_column": "payload",
                     "shard_size": SHARD, "epochs": 40},
            "sampling": {"n": N, "max_new_tokens": MAX_NEW},
            "use_reference": False,
            "algorithm": {"name": "grpo", "max_staleness": 1000},
            "controller": {"shards_in_flight": 8},
        },
    )  # fmt: skip
    client = await connect(EtcdConfig(endpoint=cluster.etcd_endpoint))
    try:
        await submit(client, job)
        for i in range(controllers):
            cluster.controller(f"ctl-{i}")
        while len(await registered(client, job.job, "controller")) < controllers:
            await asyncio.sleep(0.2)
        await asyncio.sleep(3.0)  # warm-up: channels open, pipelines full
        start = time.time()
        await asyncio.sleep(window_s)
        end = time.time()
        shards = await client.get_prefix(keys.shards_prefix(job.job).encode())
        samples = 0
        for kv in shards:
            state = decode_shard(kv.value)
            if not state.pending and start <= state.stats.get("finished_at", 0) < end:
                samples += int(state.stats.get("samples", 0))
        return {"controllers": controllers, "samples": samples, "samples_per_s": samples / window_s}
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.controllers")
    parser.add_argument("--quick", action="store_true", help="shorter windows (under 5 minutes)")
    parser.add_argument("--payload-mb", type=float, default=1.0)
    args = parser.parse_args()
    window = 12.0 if args.quick else 30.0
    counts = [1, 2, 4]
    payloads = {"none": 0, f"{args.payload_mb:g} MB": int(args.payload_mb * 2**20)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="yatt-bench-ctl-") as tmp:
        root = Path(tmp)
        model = init_model("tiny", root / "model")
        for label, size in payloads.items():
            data = write_dataset(root / f"data-{size}.parquet", size)
            for count in counts:
                job = f"ctl{count}-{size}"
                cluster = start_cluster(root, model, job)
                try:
                    result = asyncio.run(measure(cluster, data, count, window))
                finally:
                    cluster.stop()
                rows.append({"payload": label, **result})
                print(
                    f"{label:>8} {count} controllers: {result['samples_per_s']:.1f} samples/s",
                    flush=True,
                )
    table = Table(title=f"controller scaling ({window:.0f} s windows, sim engines, 2 CPU cores)")
    for column in ("payload", "controllers", "samples/s", "vs 1 controller"):
        table.add_column(column, justify="right")
    summary = {}
    for label in payloads:
        base = next(r for r in rows if r["payload"] == label and r["controllers"] == 1)[
            "samples_per_s"
        ]
        for r in (r for r in rows if r["payload"] == label):
            speedup = r["samples_per_s"] / base if base else 0.0
            summary[f"{label}/{r['controllers']}"] = round(speedup, 3)
            table.add_row(
                label, str(r["controllers"]), f"{r['samples_per_s']:.1f}", f"{speedup:.2f}x"
            )
    Console().print(table)
    payload_label = list(payloads)[1]
    result = {
        "bench": "controllers",
        "ratio": summary[f"{payload_label}/2"],
        "goal": 1.8,
        "metric": "samples/s with 2 controllers over 1 controller, 1 MB payload per sample",
        "speedups": summary,
        "rows": rows,
        "window_s": window,
        "rollout_sim": ROLLOUT_SIM,
        "reward_sim": REWARD_SIM,
        "cores": os.cpu_count(),
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
