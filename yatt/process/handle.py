"""One child process: start it, wait for a line of its output, stop or kill it by PID.

Its combined stdout/stderr goes straight into a log file (given, or a temporary one owned by
the handle), so the child never blocks on a pipe nobody reads and its log outlives it. Only
a process this handle started is ever signalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

# A line matches a str as a substring, a compiled pattern by search, or a predicate.
LinePredicate = str | re.Pattern[str] | Callable[[str], bool]


def _matcher(pattern: LinePredicate) -> Callable[[str], bool]:
    if isinstance(pattern, str):
        return lambda line: pattern in line
    if isinstance(pattern, re.Pattern):
        return lambda line: pattern.search(line) is not None
    return pattern


class ProcessHandle:
    """A child process whose output is appended to `log_path`."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str | None = None,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.name = name or os.path.basename(self.argv[0])
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.cwd = cwd
        self._own_log = log_path is None
        if log_path is None:
            fd, temp = tempfile.mkstemp(prefix=f"yatt-{self.name}-", suffix=".log")
            os.close(fd)
            log_path = Path(temp)
            weakref.finalize(self, log_path.unlink, missing_ok=True)
        self.log_path = Path(log_path)
        self._proc: subprocess.Popen[bytes] | None = None
        self._offset = 0  # where this start's output begins in the log

    @classmethod
    def python(cls, *args: str, **kw: object) -> ProcessHandle:
        """`python ARGS...` with this interpreter (e.g. `ProcessHandle.python("-m", "yatt.cli")`)."""
        return cls([sys.executable, *args], **kw)  # type: ignore[arg-type]

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ProcessHandle:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            if not self._own_log:  # a shared log says which run wrote what
                log.write(f"==> {' '.join(self.argv)}\n".encode())
                log.flush()
            self._offset = log.tell()
            # A new session keeps terminal signals (Ctrl-C) away from the child: whoever
            # started it stops it by PID, in order.
            self._proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self._proc is not None, f"{self.name} not started"
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        assert self._proc is not None, f"{self.name} not started"
        return self._proc.wait(timeout)

    def signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL by PID: the process gets no chance to clean up (a crash)."""
        if self._proc is not None and self.alive():
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM by PID (the process drains), SIGKILL after timeout; returns the exit status."""
        if self._proc is None:
            return None
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self._proc.returncode

    def __enter__(self) -> ProcessHandle:
        return self if self._proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- output ------------------------------------------------------------------------------

    def output(self) -> str:
        """The whole log: what the process wrote (and, in a given log, earlier runs)."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def wait_for_line(self, pattern: LinePredicate, timeout: float = 30.0) -> str:
        """The first line of this run that matches; raises with the log's tail on exit or timeout."""
        match = _matcher(pattern)
        deadline = time.monotonic() + timeout
        pos, partial = self._offset, b""
        while True:
            exited = not self.alive()  # checked before reading, so the last lines are seen
            with open(self.log_path, "rb") as log:
                log.seek(pos)
                chunk = log.read()
            pos += len(chunk)
            *lines, partial = (partial + chunk).split(b"\n")
            if exited:  # a last line without a newline counts too
                lines, partial = [*lines, partial], b""
            for raw in lines:
                line = raw.decode(errors="replace").rstrip("\r")
                if match(line):
                    return line
            if exited:
                raise RuntimeError(
                    f"{self.name} exited ({self.returncode}) before {pattern!r}:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.name} printed no {pattern!r} within {timeout}s:\n{self.tail()}"
                )
            time.sleep(0.05)

    def wait_for_match(
        self, pattern: str | re.Pattern[str], timeout: float = 30.0
    ) -> re.Match[str]:
        """Like wait_for_line with a regex, returning its match (for the groups)."""
        regex = re.compile(pattern)
        found = regex.search(self.wait_for_line(regex, timeout))
        assert found is not None
        return found

    async def wait_for_line_async(self, pattern: LinePredicate, timeout: float = 30.0) -> str:
        """wait_for_line without blocking the event loop (the caller's clients keep running)."""
        return await asyncio.to_thread(self.wait_for_line, pattern, timeout)
