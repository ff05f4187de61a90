"""One child process of a local cluster: its output goes to a log file, readiness is a log line.

Stopped by PID only (SIGTERM, then SIGKILL), so nothing outside the cluster is touched.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path


class ManagedProcess:
    """A process whose combined stdout/stderr is appended to `log_path`."""

    def __init__(
        self, name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self._proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def yatt(cls, name: str, args: list[str], log_path: Path, **kw: object) -> ManagedProcess:
        """`python -m yatt.cli ARGS` with this interpreter."""
        return cls(name, [sys.executable, "-m", "yatt.cli", *args], log_path, **kw)  # type: ignore[arg-type]

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"==> {' '.join(self.argv)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,  # Ctrl-C reaches the launcher, which stops us in order
            )
        return self

    @property
    def pid(self) -> int:
        assert self._proc is not None, f"{self.name} not started"
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_line(self, pattern: str, timeout: float = 120.0) -> re.Match[str]:
        """The first log line matching the regex; raises with the log tail on exit or timeout."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.log_text())
            if found:
                return found
            if not self.alive():
                raise RuntimeError(
                    f"{self.name} exited ({self.returncode}) before /{pattern}/:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no /{pattern}/ in {timeout}s:\n{self.tail()}")
            time.sleep(0.1)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL: a crash, no cleanup."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            assert self._proc is not None
            self._proc.wait()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (graceful drain), SIGKILL after timeout; returns the exit status."""
        if self._proc is None:
            return None
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self._proc.returncode

    def wait(self, timeout: float | None = None) -> int:
        assert self._proc is not None
        return self._proc.wait(timeout)
