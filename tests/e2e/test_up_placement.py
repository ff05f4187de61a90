"""`yatt up examples/demo_placement.yaml`, shortened: real workers host rollout (hf engine, tiny
model), reward and reference; the reward's sim judge turns slow mid-job and placement moves a
slot from rollout to reward while the job runs to the end with every shard done.

While it runs the test watches etcd: every placed role keeps a registered instance throughout.
If a slot moves back to rollout, the rollout started there mid-job gets the trainer's current
weights pushed to it.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
import yaml

from yatt import keys
from yatt.config.common import EtcdConfig
from yatt.coordination.client import connect
from yatt.process.handle import ProcessHandle

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
ROLES = ("rollout", "reward", "reference")
# The judge is slow from JUDGE_ON_S to JUDGE_OFF_S after the job was submitted (the sim judge's
# clock). The job is long enough that on any machine most of it is still ahead at JUDGE_ON_S
# (here 10 of 12 steps of a 192-prompt job were done by 8 s, and a faster machine made no move);
# the window is bounded, so a slow machine does not pay for a slow judge over the whole job.
JUDGE_ON_S = 6.0
JUDGE_OFF_S = 36.0
PROMPTS = 384


def shortened(tmp_path: Path) -> Path:
    """The example with a fresh tiny model (no SFT), fewer prompts and an earlier, bounded judge."""
    cfg = yaml.safe_load((REPO / "examples" / "demo_placement.yaml").read_text())
    cfg["model"] = {"path": str(tmp_path / "model"), "preset": "tiny", "sft": None}
    cfg["task"].update(train=PROMPTS, test=8)
    cfg["job"]["data"]["max_prompts"] = PROMPTS
    [judge] = [f for f in cfg["reward"]["config"]["functions"] if f["name"] == "sim"]
    judge["options"]["schedule"] = [[JUDGE_ON_S, 0.08], [JUDGE_OFF_S, 0.0]]
    path = tmp_path / "up.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


async def watch_roles(endpoint: str, job: str, proc: ProcessHandle) -> list[Counter[str]]:
    """Registered instances per placed role, every 0.3 s from job submission to the end."""
    client = await connect(EtcdConfig(endpoint=endpoint))
    seen: list[Counter[str]] = []
    try:
        await proc.wait_for_line_async(re.compile(r"job \S+: \d+ shards").search, timeout=300)
        while proc.alive():
            state = await client.get(keys.status(job).encode())
            if state is not None and b"done" in state.value:
                break
            counts = Counter[str]()
            for kv in await client.get_prefix(keys.members_prefix(job).encode()):
                counts[kv.key.decode()[len(keys.members_prefix(job)) :].split("/")[0]] += 1
            seen.append(counts)
            await asyncio.sleep(0.3)
    finally:
        await client.close()
    return seen


async def test_up_moves_a_slot_to_the_slow_reward(tmp_path: Path) -> None:
    run = tmp_path / "run"
    config = shortened(tmp_path)
    job = yaml.safe_load(config.read_text())["job"]["job"]
    proc = ProcessHandle(
        [sys.executable, "-m", "yatt.cli", "up", str(config), "--out", str(run)],
        cwd=str(tmp_path),
    ).start()
    started = time.monotonic()
    try:
        line = await proc.wait_for_line_async(re.compile(r"etcd on \S+;").search, timeout=120)
        endpoint = re.search(r"etcd on (\S+);", line).group(1)  # type: ignore[union-attr]
        seen = await asyncio.wait_for(watch_roles(endpoint, job, proc), timeout=480)
        while proc.alive() and time.monotonic() - started < 540:
            await asyncio.sleep(1)
    finally:
        status = proc.stop(timeout=60)
    print(f"yatt up took {time.monotonic() - started:.0f}s")
    assert status == 0, proc.output()[-4000:]
    summary = json.loads((run / "summary.json").read_text())
    print(json.dumps(summary["placement"], indent=1))

    # The job finished: every shard of the ledger is done.
    assert summary["shards"]["done"] == summary["shards"]["total"] > 0, summary["shards"]
    # Placement moved a slot, first toward the role that became slow.
    history = summary["placement"]["history"]
    assert summary["moves"] == len(history) >= 1, summary
    first = history[0]
    assert (first["from"], first["to"]) == ("rollout", "reward"), history
    assert first["t"] >= JUDGE_ON_S - 1, history  # not before the judge turned slow
    assert "serving reward" in (run / "logs" / f"worker-{first['slot']}.log").read_text()
    # Replaying the history, every role holds at least one slot after every move ...
    current = {int(s): u for s, u in summary["placement"]["initial"].items()}
    for move in history:
        assert current[move["slot"]] == move["from"], (current, move)
        current[move["slot"]] = move["to"]
        assert all(r in current.values() for r in ROLES), (current, move)
    assert current == {int(s): u for s, u in summary["placement"]["final"].items()}
    # ... and every role stayed registered (serving) the whole time the job ran.
    assert len(seen) > 10
    short = [c for c in seen if any(c[r] < 1 for r in ROLES)]
    assert not short, short[:5]

    # A rollout started mid-job got the trainer's weights pushed to it.
    trainer_log = (run / "logs" / "trainer.log").read_text()
    for move in history:
        if move["to"] != "rollout":
            continue
        worker_log = (run / "logs" / f"worker-{move['slot']}.log").read_text()
        pid = re.findall(r"started rollout \(pid (\d+)\)", worker_log)[-1]
        acked = re.findall(rf"rollout \S+-{pid} acknowledged version (\d+)", trainer_log)
        assert acked and int(acked[-1]) >= 1, f"rollout pid {pid} got no weights"

    assert (run / "placement.png").stat().st_size > 0
    # No process the run started outlives it (each one's command line names the run directory).
    left = [
        p.info
        for p in psutil.process_iter(["pid", "cmdline"])
        if str(run) in " ".join(p.info["cmdline"] or [])
    ]
    assert not left, left
