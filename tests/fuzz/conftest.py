"""Fuzz-suite fixtures: one real process per service for the whole session, started in parallel,
plus per-RPC counts of inputs tried and their status codes, printed at the end of the session.

YATT_FUZZ_EXAMPLES=N runs N hypothesis examples per test instead of the CPU-sized defaults.
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
# Before anything imports deepspeed/torch: the trainer child inherits these.
os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(REPO / ".torch_extensions"))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import grpc  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from yatt.process.handle import ProcessHandle  # noqa: E402
from yatt.testing.etcd import EtcdServer  # noqa: E402

SERVICES = ("rollout", "reward", "reference", "trainer", "placement")
# name -> (inputs tried per RPC, status code name -> count); read by pytest_terminal_summary.
COUNTS: dict[str, Counter[str]] = defaultdict(Counter)
SKIPPED: Counter[str] = Counter()
# rpc -> refusal messages (digits blanked, so one kind of refusal is one entry) -> count.
DETAILS: dict[str, Counter[str]] = defaultdict(Counter)
FINDINGS: list[str] = []


def examples(default: int) -> int:
    """Hypothesis examples per test: YATT_FUZZ_EXAMPLES when set, else the CPU-sized default."""
    return int(os.environ.get("YATT_FUZZ_EXAMPLES", default))


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (and its children, e.g. trainer ranks), from /proc."""
    import psutil

    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


class Service:
    """One running service process: its endpoint, a channel, and its idle RSS."""

    def __init__(self, name: str, proc: ProcessHandle, ready: re.Pattern[str]) -> None:
        self.name, self.proc, self._ready = name, proc, ready
        self.endpoint = ""
        self.channel: grpc.Channel | None = None
        self.rss_idle = 0
        self.extra: dict[str, Any] = {}

    def wait_ready(self, timeout: float = 150.0) -> Service:
        if self.channel is None:
            line = self.proc.wait_for_line(self._ready, timeout=timeout)
            self.endpoint = self._ready.search(line).group(1)  # type: ignore[union-attr]
            limit = 80 << 20  # above the services' 64 MiB limit: the server must refuse, not us
            self.channel = grpc.insecure_channel(
                self.endpoint,
                options=[("grpc.max_send_message_length", limit),
                         ("grpc.max_receive_message_length", limit)],
            )  # fmt: skip
        return self

    def record(self, rpc: str, code: grpc.StatusCode, detail: str = "") -> None:
        COUNTS[f"{self.name}.{rpc}"][code.name] += 1
        if detail:
            kind = re.sub(r"'[^']*'|\d+", "_", detail)[:90]
            DETAILS[f"{self.name}.{rpc}"][f"{code.name}: {kind}"] += 1

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.proc.output().splitlines()[-lines:])


class Fleet:
    """Starts the services a session needs, all at once (their imports overlap on 2 cores)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.services: dict[str, Service] = {}
        self.etcd: EtcdServer | None = None
        self.model_dir: Path | None = None

    def tiny_model(self) -> Path:
        if self.model_dir is None:
            from yatt.models.init import init_model

            self.model_dir = init_model("tiny", self.tmp / "tiny-model", seed=0)
        return self.model_dir

    def start(self, names: list[str]) -> None:
        for name in names:
            if name not in self.services:
                self.services[name] = getattr(self, f"_start_{name}")()

    def get(self, name: str) -> Service:
        self.start([name])
        return self.services[name].wait_ready()

    def _proc(self, name: str, *args: str) -> Service:
        proc = ProcessHandle.python(*args, name=name).start()
        return Service(name, proc, re.compile(rf"yatt {name} serving on (\S+)"))

    def _start_rollout(self) -> Service:
        return self._proc(
            "rollout", "-m", "yatt.cli", "serve", "rollout",
            "--set", f"model.path={self.tiny_model()}", "--set", "threads=1",
            "--set", "max_samples_per_request=16", "--set", "max_batch=16",
            "--set", "sampling.max_new_tokens=8", "--set", "server.grace_s=1",
        )  # fmt: skip

    def _start_reward(self) -> Service:
        config = self.tmp / "reward.yaml"
        functions = [
            {"name": "exact_answer", "weight": 1.0},
            {"name": "regex_format", "weight": 0.5, "options": {"pattern": r".*\\boxed\{.+\}.*"}},
            {"name": "length_penalty", "weight": 1.0,
             "options": {"unit": "tokens", "max_length": 8, "free_length": 4}},
        ]  # fmt: skip
        config.write_text(yaml.safe_dump({"functions": functions, "threads": 1, "max_batch": 64}))
        return self._proc(
            "reward", "-m", "yatt.cli", "serve", "reward", "--config", str(config),
            "--set", "server.grace_s=1",
        )  # fmt: skip

    def _start_reference(self) -> Service:
        return self._proc(
            "reference", "-m", "yatt.cli", "serve", "reference",
            "--set", f"model.path={self.tiny_model()}", "--set", "threads=1",
            "--set", "max_sequences=64", "--set", "max_batch_tokens=2048",
            "--set", "server.grace_s=1",
        )  # fmt: skip

    def _start_trainer(self) -> Service:
        config = self.tmp / "trainer.yaml"
        cfg = {
            "model": str(self.tiny_model()),
            "out_dir": str(self.tmp / "trainer-run"),
            "deepspeed": {"zero_stage": 1, "micro_batch": 2, "global_batch_samples": 4},
            "checkpoint_every": 0,
            "algorithm": {"name": "grpo", "max_staleness": 1000},
            "epoch_window": None,
            "server": {"grace_s": 1},
        }
        config.write_text(yaml.safe_dump(cfg))
        return self._proc("trainer", "-m", "yatt.cli", "serve", "trainer", "--config", str(config))

    def _start_placement(self) -> Service:
        if self.etcd is None:
            self.etcd = EtcdServer().start()
        config = self.tmp / "placement.yaml"
        cfg = {
            "job": "fuzz",
            "slots": 4,
            "tick_s": 0.5,
            "roles": {"rollout": {"initial": 3}, "reward": {"initial": 1}},
            "estimator": {"prior_rates": {"rollout": 4.0, "reward": 1.0}},
            "etcd": {"endpoint": self.etcd.endpoint, "lease_ttl_s": 2},
            "server": {"grace_s": 1},
        }
        config.write_text(yaml.safe_dump(cfg))
        return self._proc("placement", "-m", "yatt.placement", "run", "--config", str(config))

    def close(self) -> None:
        for service in self.services.values():
            if service.channel is not None:
                service.channel.close()
            service.proc.stop()
        if self.etcd is not None:
            self.etcd.close()


_FLEET: Fleet | None = None


@pytest.fixture(scope="session")
def fleet(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Fleet]:
    global _FLEET
    _FLEET = Fleet(tmp_path_factory.mktemp("fuzz"))
    # Start every service some collected test will use, in parallel, before the first waits.
    wanted = {getattr(item.module, "SERVICE", None) for item in request.session.items}
    _FLEET.start([name for name in SERVICES if name in wanted])
    try:
        yield _FLEET
    finally:
        _FLEET.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not COUNTS:
        return
    write = terminalreporter.write_line
    write("")
    write("fuzz inputs tried per RPC (status code counts):")
    for rpc in sorted(COUNTS):
        codes = ", ".join(f"{code}={n}" for code, n in COUNTS[rpc].most_common())
        skipped = f" (+{SKIPPED[rpc]} undecodable inputs skipped)" if SKIPPED[rpc] else ""
        write(f"  {rpc:34s} {sum(COUNTS[rpc].values()):6d}  {codes}{skipped}")
    total = sum(sum(c.values()) for c in COUNTS.values())
    write(f"fuzz total: {total} calls over {len(COUNTS)} RPCs")
    if os.environ.get("YATT_FUZZ_VERBOSE"):
        for rpc in sorted(DETAILS):
            for kind, n in DETAILS[rpc].most_common(8):
                write(f"    {rpc} {n:5d}x {kind}")
    for line in FINDINGS:
        write(f"fuzz note: {line}")
