"""Metrics, structured logs and the optional wandb logger, in process (no servers).

The load gauges read the admission gate live, refusals are counted by reason, every log line
names job/role/instance, and wandb is a no-op without the package.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging

import pytest
from prometheus_client import REGISTRY

from yatt import metrics
from yatt.config import load_config
from yatt.config.common import MetricsConfig, ServerConfig
from yatt.contracts import TrainerMember
from yatt.controller.config import ControllerConfig
from yatt.errors import ResourceExhausted
from yatt.logs import log_context, set_log_context, setup_logging
from yatt.rpc.admission import AdmissionGate
from yatt.wandb_logger import WandbLogger

pytestmark = pytest.mark.unit


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_gate_feeds_queue_in_flight_refused_and_tokens() -> None:
    gate = AdmissionGate(max_concurrency=1, max_queue=1, name="unit-gate")
    release = asyncio.Event()

    async def hold() -> None:
        async with gate.admit():
            await release.wait()

    first = asyncio.create_task(hold())
    await asyncio.sleep(0.01)
    second = asyncio.create_task(hold())  # waits in the queue
    await asyncio.sleep(0.01)
    assert sample("yatt_in_flight", service="unit-gate") == 1
    assert sample("yatt_queue_depth", service="unit-gate") == 1
    gate.queued_items = 5  # work a core reports inside one RPC counts as queued
    assert sample("yatt_queue_depth", service="unit-gate") == 6
    with pytest.raises(ResourceExhausted):
        async with gate.admit():
            pass
    assert sample("yatt_rpc_refused_total", service="unit-gate", reason="queue_full") == 1
    release.set()
    await asyncio.gather(first, second)
    gate.draining = True
    with pytest.raises(Exception, match="draining"):
        async with gate.admit():
            pass
    assert sample("yatt_rpc_refused_total", service="unit-gate", reason="draining") == 1
    gate.record_tokens(30)
    gate.record_tokens(12)
    assert sample("yatt_tokens_total", service="unit-gate") == 42
    snap = gate.snapshot()
    assert sample("yatt_tokens_per_second", service="unit-gate") == pytest.approx(snap.tokens_per_s)
    assert sample("yatt_in_flight", service="unit-gate") == 0


def test_unnamed_gate_exports_nothing() -> None:
    gate = AdmissionGate(1, 0)
    gate.record_tokens(3)
    assert gate.name is None  # test gates and cores without a runtime stay out of the registry


def test_member_info_fields_become_gauges() -> None:
    state = {"record": TrainerMember(weight_version=3, step=7)}
    metrics.bind_member_info("unit-trainer", lambda: state["record"])
    assert sample("yatt_weight_version", service="unit-trainer") == 3
    state["record"] = TrainerMember(weight_version=4, step=7)
    assert sample("yatt_weight_version", service="unit-trainer") == 4
    assert sample("yatt_trainer_step", service="unit-trainer") == 7


def test_metrics_config_defaults_server_section_and_controller() -> None:
    assert ServerConfig().metrics.port is None  # off unless asked for
    assert ServerConfig(metrics={"port": 0}).metrics.port == 0
    with pytest.raises(ValueError):
        ServerConfig(metrics={"port": 70000})
    # The controller has no server section: its metrics are a top-level field, set like any key.
    cfg = load_config(
        ControllerConfig, overrides=["job=j", "metrics.port=9100", "metrics.host=0.0.0.0"]
    )
    assert cfg.metrics == MetricsConfig(port=9100, host="0.0.0.0")
    assert load_config(ControllerConfig, overrides=["job=j"]).metrics.port is None
    assert metrics.start_exporter(MetricsConfig()) is None


def test_json_logs_carry_job_role_instance(capsys: pytest.CaptureFixture[str]) -> None:
    before = log_context()
    try:
        setup_logging("reward", "INFO", job="j1", instance="reward-0", fmt="json")
        logging.getLogger("yatt.test").info("scored %d samples", 4)
        set_log_context(instance="reward-1")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("yatt.test").exception("failed")
        lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.strip()]
        assert [(x["job"], x["role"], x["instance"]) for x in lines] == [
            ("j1", "reward", "reward-0"),
            ("j1", "reward", "reward-1"),
        ]
        assert lines[0]["msg"] == "scored 4 samples" and lines[0]["level"] == "INFO"
        assert "ValueError: boom" in lines[1]["exc"]
        setup_logging("rollout", "INFO", fmt="text")
        logging.getLogger("yatt.test").warning("text line")
        assert "j1/rollout/reward-1[" in capsys.readouterr().err
    finally:
        set_log_context(**before)
        setup_logging(before["role"], "WARNING", fmt="text")


@pytest.mark.skipif(importlib.util.find_spec("wandb") is not None, reason="wandb is installed")
def test_wandb_logger_is_a_noop_without_wandb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_PROJECT", "yatt-test")
    logger = WandbLogger.create("job", {"lr": 1e-4})
    assert not logger.enabled
    logger.log_step(1, {"loss": 0.5, "note": "text"})
    logger.finish()


def test_wandb_logger_off_without_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    assert not WandbLogger.create("job").enabled
    assert not WandbLogger.create("job", project="p", enabled=False).enabled
