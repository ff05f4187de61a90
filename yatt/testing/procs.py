"""Child processes for tests: start, wait for a readiness line, stop or kill by PID.

Tests use real processes (services, lease holders); this keeps their lifetime explicit and
never touches a process the test did not start.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the caller must tolerate the rare race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


LinePredicate = str | re.Pattern[str] | Callable[[str], bool]


def _matcher(pattern: LinePredicate) -> Callable[[str], bool]:
    if isinstance(pattern, str):
        return lambda line: pattern in line
    if isinstance(pattern, re.Pattern):
        return lambda line: pattern.search(line) is not None
    return pattern


class ChildProcess:
    """One child process whose combined stdout/stderr is captured line by line."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        name: str | None = None,
    ) -> None:
        self.argv = list(argv)
        self.name = name or os.path.basename(self.argv[0])
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", **(env or {})}
        self._cwd = cwd
        self._proc: subprocess.Popen[str] | None = None
        self._lines: list[str] = []
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None

    @classmethod
    def python(cls, *args: str, env: dict[str, str] | None = None, **kw: object) -> ChildProcess:
        """`python ARGS...` with this interpreter (e.g. `ChildProcess.python("-m", "yatt.cli")`)."""
        return cls([sys.executable, *args], env=env, **kw)  # type: ignore[arg-type]

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ChildProcess:
        # A new session keeps terminal signals (Ctrl-C on pytest) away from the child;
        # the test still stops it by PID.
        self._proc = subprocess.Popen(
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self._env,
            cwd=self._cwd,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name=f"{self.name}-out", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            with self._cond:
                self._lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def output(self) -> str:
        with self._cond:
            return "\n".join(self._lines)

    def wait_for_line(self, pattern: LinePredicate, timeout: float = 30.0) -> str:
        """Blocks until a line matches; raises with the captured output on exit or timeout."""
        match = _matcher(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self._lines[seen:]:
                    if match(line):
                        return line
                seen = len(self._lines)
                if not self.alive():
                    # The reader may still hold buffered lines; give it a moment.
                    if self._reader is not None and self._reader.is_alive():
                        self._cond.wait(0.05)
                        continue
                    raise RuntimeError(
                        f"{self.name} exited ({self.returncode}) before {pattern!r}:\n"
                        + self.output()
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{self.name} printed no {pattern!r} within {timeout}s:\n" + self.output()
                    )
                self._cond.wait(min(left, 0.2))

    async def wait_for_line_async(self, pattern: LinePredicate, timeout: float = 30.0) -> str:
        """wait_for_line without blocking the event loop (a test's own clients keep running)."""
        return await asyncio.to_thread(self.wait_for_line, pattern, timeout)

    def kill(self) -> None:
        """SIGKILL by PID: the process gets no chance to clean up (a crash)."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self._proc.wait()  # type: ignore[union-attr]

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM by PID, then SIGKILL after timeout; returns the exit status."""
        if self._proc is None:
            return None
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._reader is not None:
            self._reader.join(timeout=2.0)
        return self._proc.returncode

    def __enter__(self) -> ChildProcess:
        return self if self._proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
