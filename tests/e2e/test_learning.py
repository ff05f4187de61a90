"""End-to-end learning: `yatt up examples/demo.yaml` warm-starts a tiny model on single-digit
addition, trains it with GRPO on a real local cluster, and the reward rises.

Margin: the mean reward of the last tenth of steps beats the first tenth by at least 0.04
(measured runs: +0.10; one step's mean over 128 samples varies by about +-0.07, so a tenth of
10 steps by about +-0.02). The run also leaves the artefacts `yatt demo` promises.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import psutil
import pytest

from yatt.process.handle import ProcessHandle

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
MARGIN = 0.04


def test_demo_learns_arithmetic_and_reports(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = ProcessHandle(
        [sys.executable, "-m", "yatt.cli", "up", str(REPO / "examples" / "demo.yaml"),
         "--out", str(run), "--set", f"model.path={tmp_path / 'model'}"],
        cwd=str(tmp_path),
    ).start()  # fmt: skip
    try:
        deadline = time.monotonic() + 840
        while proc.alive() and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        status = proc.stop(timeout=60)
    assert status == 0, proc.output()[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["steps"] == 100 and summary["samples"] == 12800
    assert summary["reward_last"] - summary["reward_first"] >= MARGIN, summary
    for name in ("metrics.jsonl", "training.png", "placement.png", "up.yaml", "final/config.json"):
        assert (run / name).exists(), name
    assert any((run / "tensorboard").iterdir())
    assert len((run / "metrics.jsonl").read_text().splitlines()) >= 100
    # No process the run started outlives it (each one's command line names the run directory).
    left = [
        p.info
        for p in psutil.process_iter(["pid", "cmdline"])
        if str(run) in " ".join(p.info["cmdline"] or [])
    ]
    assert not left, left
