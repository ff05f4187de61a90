"""DAPO dynamic sampling through real services: zero-variance groups are re-sampled a bounded
number of times, what stays useless is dropped, and both counts are reported per shard.

Rollout and reward run the clearly labelled `sim` engines (random tokens; reward 1 with
probability 0.5), so with n=2 about half the groups have zero variance on the first pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from yatt import keys
from yatt.cluster.local import LocalCluster
from yatt.codec.meta import unpack_map
from yatt.config import load_config
from yatt.config.common import EtcdConfig
from yatt.controller.config import JobConfig
from yatt.coordination.client import connect
from yatt.jobs import submit
from yatt.testing.jobs import TRAINER_ENV, trainer_status, wait_done

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]

MAX_REFILLS = 2


async def test_zero_variance_groups_are_refilled_then_dropped(
    cluster: LocalCluster, tiny_model: Path, tmp_path: Path, arith_file
) -> None:
    data = arith_file(32)  # 8 shards of 4 prompts
    cluster.serve("trainer", "trainer", {
        "job": cluster.job, "model": str(tiny_model), "out_dir": str(tmp_path / "trainer"),
        "deepspeed": {"zero_stage": 1, "micro_batch": 2, "global_batch_samples": 2},
        "push_weights": False,
    }, wait=False, env=TRAINER_ENV)  # fmt: skip
    cluster.serve("rollout", "rollout-0", {
        "model": {"path": str(tiny_model)}, "engine": "sim",
        "engine_options": {"step_s": 0.0, "row_step_s": 0.0, "prefill_s_per_token": 0.0},
    }, wait=False)  # fmt: skip
    cluster.serve("reward", "reward-0", {
        "functions": [{"name": "sim", "options": {"base_s": 0, "per_sample_s": 0, "p_correct": 0.5}}],
    }, wait=False)  # fmt: skip
    for name in ("trainer", "rollout-0", "reward-0"):
        cluster.wait_ready(name, timeout=240)
    job = load_config(JobConfig, data={
        "job": cluster.job,
        "data": {"path": str(data), "metadata_columns": ["answer"], "shard_size": 4},
        "sampling": {"n": 2, "max_new_tokens": 4},
        "use_reference": False,
        # DAPO's dynamic sampling alone: no overlong shaping, so the rewards stay 0 or 1.
        "algorithm": {"name": "dapo", "max_refills": MAX_REFILLS, "max_staleness": 100,
                      "overlong": {"enabled": False}},
    })  # fmt: skip
    client = await connect(EtcdConfig(endpoint=cluster.etcd_endpoint))
    try:
        await submit(client, job)
        cluster.controller("ctl-0")
        await wait_done(client, job.job, timeout=300)
        stats = [
            unpack_map(kv.value)["stats"]
            for kv in await client.get_prefix(keys.shards_prefix(job.job).encode())
        ]
        assert len(stats) == 8
        assert all(0 <= s["refills"] <= MAX_REFILLS for s in stats), stats
        assert sum(s["refills"] for s in stats) > 0  # P(no shard needs a refill) = 2^-32
        for s in stats:
            # What reaches the trainer is whole groups of n with reward variance.
            assert s["samples"] % 2 == 0 and s["samples"] == 2 * (4 - s["groups_dropped"])
        pushed = sum(1 for s in stats if s["pushed"])
        ledger = await trainer_status(cluster)
        assert ledger.applied_shards == pushed
    finally:
        await client.close()
