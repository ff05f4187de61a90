"""Placement on real processes: etcd, the placement service, 5 workers and the `sim` engines
(rollout: services/rollout/engines/sim.py, reward: services/reward/plugins/sim.py), driven by a
rollout -> reward load whose reward step turns slow midway; static vs flow_balance, same load.

Shows the moves the simulation predicts happening on real workers (role switches included).
`python -m bench.placement_real`; a table, then one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import yaml  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from yatt.config.common import EtcdConfig  # noqa: E402
from yatt.controller.pool import RolePool  # noqa: E402
from yatt.coordination.client import connect  # noqa: E402
from yatt.placement.history import read_history  # noqa: E402
from yatt.placement.store import read_assignments  # noqa: E402
from yatt.process.handle import ProcessHandle  # noqa: E402
from yatt.services.reward.client import RewardClient  # noqa: E402
from yatt.services.reward.plugins.base import RewardSample  # noqa: E402
from yatt.services.rollout.client import RolloutClient  # noqa: E402
from yatt.services.rollout.core import GenerateRequest, PromptRequest  # noqa: E402
from yatt.services.rollout.engines.base import SamplingParams  # noqa: E402
from yatt.testing.etcd import EtcdServer  # noqa: E402

SLOTS, SPLIT = 5, {"rollout": 3, "reward": 2}  # best static split of the two phases below
STEP_S, MAX_NEW = 0.01, 32  # rollout: ~24 decode steps of 10 ms per item -> ~0.24 s
JUDGE_S, FAST, SLOW = 0.02, 1, 16  # reward: 20 ms per judged sample; 1 then 16 per item
ITEMS = (500, 400)  # items in the rule phase, then in the judge phase
IN_FLIGHT = 4 * SLOTS
DYNAMIC = {"threshold": 0.1, "cooldown_s": 5.0, "wait_settled": False, "max_moves": 2,
           "max_utilization": 0.95}  # fmt: skip


def write_configs(root: Path, model: Path, etcd: str, policy: str) -> tuple[Path, Path]:
    rollout = {"model": {"path": str(model)}, "engine": "sim",
               "engine_options": {"step_s": STEP_S, "row_step_s": 0.0, "prefill_s_per_token": 0.0}}  # fmt: skip
    reward = {"functions": [{"name": "sim", "options": {"base_s": 0.0, "per_sample_s": JUDGE_S}}]}
    services: dict[str, dict[str, Any]] = {"rollout": rollout, "reward": reward}
    for name, cfg in services.items():
        cfg["server"] = {"max_concurrency": 1, "grace_s": 10}  # one device: one at a time
        (root / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
    worker = {"roles": {r: {"config": str(root / f"{r}.yaml")} for r in SPLIT},
              "stop_timeout_s": 20}  # fmt: skip
    (root / "worker.yaml").write_text(yaml.safe_dump(worker))
    placement = {
        "job": policy, "slots": SLOTS, "tick_s": 1.0,
        "roles": {r: {"initial": n} for r, n in SPLIT.items()},
        "policy": {"name": policy, "params": DYNAMIC if policy != "static" else {}},
        "estimator": {"window_s": 5.0},
        "etcd": {"endpoint": etcd, "lease_ttl_s": 2},
    }  # fmt: skip
    (root / "placement.yaml").write_text(yaml.safe_dump(placement, sort_keys=False))
    return root / "worker.yaml", root / "placement.yaml"


async def drive(client, job: str) -> tuple[float, float]:  # noqa: ANN001
    """Runs ITEMS through rollout then reward; (seconds, when the judge phase began)."""
    rollout, reward = RolePool(client, job, "rollout"), RolePool(client, job, "reward")
    await rollout.start()
    await reward.start()
    total = sum(ITEMS)
    ids = iter(range(total))
    judge_from = [0.0]
    start = time.monotonic()

    async def item(i: int) -> None:
        request = GenerateRequest(
            [PromptRequest(f"p{i}", token_ids=(5, 6, 7, 8))],
            SamplingParams(max_new_tokens=MAX_NEW, n=1, temperature=1.0),
        )

        async def generate(channel, _):  # noqa: ANN001, ANN202
            return [c async for c in RolloutClient(channel).generate(request, timeout_s=120)]

        [done] = await rollout.call(generate, attempts=50, backoff_s=0.05, wait_s=120)
        judged = SLOW if i >= ITEMS[0] else FAST
        if judged == SLOW and not judge_from[0]:
            judge_from[0] = time.monotonic() - start
        score = [RewardSample(f"p{i}-{k}", "", done.text) for k in range(judged)]

        async def call(channel, _):  # noqa: ANN001, ANN202
            return await RewardClient(channel).score(score, timeout_s=120)

        await reward.call(call, attempts=50, backoff_s=0.05, wait_s=120)

    async def loop() -> None:
        for i in ids:
            await item(i)

    try:
        await asyncio.gather(*(loop() for _ in range(IN_FLIGHT)))
    finally:
        await rollout.close()
        await reward.close()
    return time.monotonic() - start, judge_from[0]


async def run_one(root: Path, model: Path, etcd: EtcdServer, policy: str) -> dict:
    worker_cfg, placement_cfg = write_configs(root, model, etcd.endpoint, policy)
    client = await connect(EtcdConfig(endpoint=etcd.endpoint))
    procs = [ProcessHandle.python("-m", "yatt.placement", "run", "--config", str(placement_cfg),
                                 name=f"placement-{policy}").start()]  # fmt: skip
    try:
        await procs[0].wait_for_line_async("yatt placement leading", timeout=120)
        for slot in range(SLOTS):
            argv = ["-m", "yatt.services.worker", "--slot", str(slot), "--job", policy]
            argv += ["--etcd", etcd.endpoint, "--config", str(worker_cfg)]
            procs.append(ProcessHandle.python(*argv, "--set", "etcd.lease_ttl_s=2").start())
        start = await read_assignments(client, policy)
        for slot, proc in enumerate(procs[1:]):
            await proc.wait_for_line_async(f"serving {start[slot]}", timeout=240)
        wall, judge_at = await drive(client, policy)
        history = await read_history(client, policy)
        final = await read_assignments(client, policy)
        return {
            "policy": policy,
            "wall_s": wall,
            "judge_phase_at_s": judge_at,
            "moves": [
                (round(m.time - history[0].time, 1) if history else 0.0, m.from_role, m.to_role)
                for m in history
            ],  # fmt: skip
            "final": {r: sorted(final.values()).count(r) for r in SPLIT},
        }
    finally:
        for proc in procs:
            proc.stop(timeout=30)
        await client.close()


async def main_async() -> dict:
    from yatt.models.init import init_model

    with tempfile.TemporaryDirectory(prefix="yatt-placement-real-") as tmp, EtcdServer() as etcd:
        root = Path(tmp)
        model = init_model("tiny", root / "model", seed=0)
        runs = {}
        for policy in ("static", "flow_balance"):
            (root / policy).mkdir()
            runs[policy] = await run_one(root / policy, model, etcd, policy)
    return runs


def main() -> None:
    runs = asyncio.run(main_async())
    table = Table(title=f"real processes, {SLOTS} slots, sim engines: {ITEMS} items")
    for col in ("policy", "wall s", "judge phase from s", "moves (t, from, to)", "final"):
        table.add_column(col)
    for r in runs.values():
        table.add_row(r["policy"], f"{r['wall_s']:.1f}", f"{r['judge_phase_at_s']:.1f}",
                      "; ".join(f"{t} {a}->{b}" for t, a, b in r["moves"]), str(r["final"]))  # fmt: skip
    Console(width=140).print(table)
    ratio = runs["static"]["wall_s"] / runs["flow_balance"]["wall_s"]
    print(json.dumps({"bench": "placement_real", "ratio": ratio, "slots": SLOTS, "split": SPLIT,
                      "items": ITEMS, "step_s": STEP_S, "judge_s": JUDGE_S,
                      "judged": [FAST, SLOW], "policy": DYNAMIC, "runs": runs}))  # fmt: skip


if __name__ == "__main__":
    main()
