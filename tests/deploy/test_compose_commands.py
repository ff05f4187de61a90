"""deploy/docker-compose.yml proven without a container engine: every service's own command runs
as a local process (etcd address, ports, hosts and mounted paths substituted), a job runs through
them to the end, Prometheus metrics and JSON logs show it, and the client examples call each service.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from _compose_local import METRICS_PORT, REPO, LocalCompose
from prometheus_client.parser import text_string_to_metric_families

from yatt.config.common import EtcdConfig
from yatt.coordination.client import connect
from yatt.jobs import read_progress, registered

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(480)]

JOB = "demo"
TRAINER_ENV = {
    "TORCH_EXTENSIONS_DIR": os.environ.get("TORCH_EXTENSIONS_DIR", str(REPO / ".torch_extensions")),
}


@pytest.fixture
def compose(tmp_path: Path) -> Iterator[LocalCompose]:
    local = LocalCompose(tmp_path / "compose", env=TRAINER_ENV)
    try:
        yield local
    finally:
        local.stop()


def scrape(compose: LocalCompose, instance: str) -> dict[tuple[str, tuple], float]:
    url = f"http://127.0.0.1:{compose.ports[instance][METRICS_PORT]}/metrics"
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(samples: dict[tuple[str, tuple], float], name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= set(lab))


def run_client(script: str, *args: str) -> list[dict]:
    done = subprocess.run(
        [sys.executable, str(REPO / "examples" / "clients" / script), *args],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


async def wait_done(client, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = await read_progress(client, JOB)
        if progress.finished:
            assert progress.state == "done", progress.reason
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"job not done in {timeout}s: {await read_progress(client, JOB)}")


async def test_compose_services_run_a_job_and_serve_metrics_and_clients(
    compose: LocalCompose,
) -> None:
    services = compose.services
    assert {"etcd", "rollout", "reward", "reference", "trainer", "placement", "controller"} <= set(
        services
    )
    assert services["controller"]["deploy"]["replicas"] == 2
    await asyncio.to_thread(compose.up)
    assert {"controller-1", "controller-2"} <= set(compose.processes)
    client = await connect(EtcdConfig(endpoint=f"127.0.0.1:{compose.etcd_port}"))
    try:
        await wait_done(client, timeout=300)
        progress = await read_progress(client, JOB)
        assert progress.shards_done == progress.shards_total == 4
        assert progress.samples == 64
        (rollout_member,) = (await registered(client, JOB, "rollout")).values()
        assert (
            rollout_member.metrics_endpoint  # type: ignore[attr-defined]
            == f"127.0.0.1:{compose.ports['rollout'][METRICS_PORT]}"
        )
    finally:
        await client.close()

    # Prometheus: every service, both controllers, placement.
    grpc_ok = "yatt_rpc_latency_seconds_count"
    rollout = await asyncio.to_thread(scrape, compose, "rollout")
    assert total(rollout, grpc_ok, method="/yatt.v1.RolloutService/Generate", code="OK") >= 4
    assert total(rollout, "yatt_tokens_total", service="rollout") > 0
    assert total(rollout, "yatt_weight_version", service="rollout") >= 1  # pushed by the trainer
    reward = await asyncio.to_thread(scrape, compose, "reward")
    assert total(reward, grpc_ok, method="/yatt.v1.RewardService/Score", code="OK") >= 4
    reference = await asyncio.to_thread(scrape, compose, "reference")
    assert total(reference, grpc_ok, method="/yatt.v1.ReferenceService/LogProbs") >= 4
    trainer = await asyncio.to_thread(scrape, compose, "trainer")
    assert total(trainer, grpc_ok, method="/yatt.v1.TrainerService/PushExperience", code="OK") == 4
    assert total(trainer, "yatt_trainer_step", service="trainer") == 4  # 64 samples / 16 a step
    assert total(trainer, "yatt_weight_version", service="trainer") >= 4
    controllers = [await asyncio.to_thread(scrape, compose, f"controller-{i}") for i in (1, 2)]
    done = sum(
        total(c, "yatt_controller_shards_total", job=JOB, outcome="done") for c in controllers
    )
    assert done == 4
    assert sum(total(c, "yatt_controller_samples_total", job=JOB) for c in controllers) == 64
    for stage in ("generate", "score", "reference", "push"):
        count = sum(
            total(c, "yatt_controller_stage_seconds_count", stage=stage) for c in controllers
        )
        assert count >= 4, stage
    placement = await asyncio.to_thread(scrape, compose, "placement")
    assert total(placement, "yatt_placement_leader", job=JOB) == 1

    # Structured logs: JSON lines naming job, role and instance.
    lines = compose.processes["rollout"].output().splitlines()
    records = [json.loads(x) for x in lines if x.startswith("{")]
    assert records and all(r["job"] == JOB and r["role"] == "rollout" for r in records)

    # The pipeline examples against the running services.
    ports = {name: f"127.0.0.1:{p[50051]}" for name, p in compose.ports.items()}
    completions, scores, (ref,), (weights,) = await asyncio.gather(
        asyncio.to_thread(
            run_client, "rollout_generate.py", "--target", ports["rollout"], "-n", "2"
        ),
        asyncio.to_thread(run_client, "reward_score.py", "--target", ports["reward"]),
        asyncio.to_thread(run_client, "reference_logprobs.py", "--target", ports["reference"]),
        asyncio.to_thread(run_client, "trainer_client.py", "--target", ports["trainer"], "weights"),
    )
    assert len(completions) == 4 and all(c["policy_version"] >= 1 for c in completions)
    assert [s["total"] for s in scores] == [1.0, 0.0]
    assert ref["completion_tokens"] == 3 and all(v < 0 for v in ref["logprobs"])
    assert weights["version"] >= 4 and weights["parameters"] > 100_000
    (pushed,) = run_client("trainer_client.py", "--target", ports["trainer"], "push", "--job", JOB)
    assert pushed["pending_samples"] == 2 and not pushed["stepped"]
    (status,) = run_client("trainer_client.py", "--target", ports["trainer"], "status")
    assert status["applied_shards"] == 5  # the pushed shard is in the ledger (pending a step)
