"""Command-line flags reach the config as given: `--job 007` is the job "007", not the number 7
(every command builds its `--set` items from its flags in one place, quoted)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from yatt import keys
from yatt.cli import app
from yatt.config.common import EtcdConfig
from yatt.coordination.client import connect
from yatt.testing.etcd import EtcdServer

pytestmark = pytest.mark.integration


async def _assigned(endpoint: str, job: str) -> int:
    client = await connect(EtcdConfig(endpoint=endpoint))
    try:
        return len(list(await client.get_prefix(keys.assign_prefix(job).encode())))
    finally:
        await client.close()


def test_placement_init_job_007_writes_the_map_of_job_007(etcd: EtcdServer, tmp_path: Path) -> None:
    config = tmp_path / "placement.yaml"
    config.write_text(yaml.safe_dump({"slots": 2, "roles": {"rollout": {"initial": 2}}}))
    args = ["placement", "init", "--job", "007", "--etcd", etcd.endpoint, "--config", str(config)]
    result = CliRunner().invoke(app, args)  # the command runs its own event loop
    assert result.exit_code == 0, result.output
    assert "job 007: starting map written" in result.output
    assert asyncio.run(_assigned(etcd.endpoint, "007")) == 2
