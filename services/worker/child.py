"""One service child process of a worker: start it, wait for its serving line, stop it by PID.

The child gets its own session (terminal signals stay with the worker) and, on Linux, is told
to receive SIGTERM if the worker dies, so a killed worker does not leave its role running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
import time
from collections import deque

log = logging.getLogger(__name__)

SERVING = re.compile(r"yatt (\S+) serving on (\S+)")
# The child sets its parent-death signal itself, then execs the service (same PID). No Python
# runs between fork and exec in the worker: a preexec_fn there (unsafe with threads) made
# children die silently before exec while the worker's gRPC threads were busy.
LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGTERM)\n"  # 1 = PR_SET_PDEATHSIG
    "if os.getppid() != int(sys.argv[1]):\n"  # the worker died before prctl took effect
    "    sys.exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def _launch_argv(argv: list[str]) -> list[str]:
    if sys.platform != "linux":
        return argv
    return [sys.executable, "-c", LAUNCHER, str(os.getpid()), *argv]


class ChildFailed(Exception):
    """The child exited or stayed silent before printing its serving line."""


class ChildService:
    def __init__(
        self, role: str, argv: list[str], env: dict[str, str], prefix: str | None = None
    ) -> None:
        self.role = role
        self.argv = argv
        self.env = env
        self.prefix = prefix
        self.endpoint: str | None = None
        self.proc: asyncio.subprocess.Process | None = None
        self.tail: deque[str] = deque(maxlen=40)
        self._ready: asyncio.Future[str] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._started_at = 0.0

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def uptime(self) -> float:
        return time.monotonic() - self._started_at if self._started_at else 0.0

    async def start(self, timeout: float) -> str:
        """Starts the process; returns the endpoint from its serving line."""
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self.proc = await asyncio.create_subprocess_exec(
            *_launch_argv(self.argv),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
            limit=1 << 20,
        )
        self._reader = asyncio.create_task(self._read(), name=f"{self.role}-output")
        log.info("started %s (pid %d)", self.role, self.proc.pid)
        try:
            self.endpoint = await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except TimeoutError:
            raise ChildFailed(
                f"{self.role} printed no serving line within {timeout:.0f}s"
            ) from None
        self._started_at = time.monotonic()
        return self.endpoint

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None and self._ready is not None
        try:
            async for raw in self.proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                self.tail.append(line)
                if self.prefix is not None:
                    print(self.prefix + line, flush=True)
                match = SERVING.search(line)
                if match and match.group(1) == self.role and not self._ready.done():
                    self._ready.set_result(match.group(2))
        finally:
            if self._ready is not None and not self._ready.done():
                tail = "\n".join(self.tail)
                self._ready.set_exception(
                    ChildFailed(f"{self.role} exited before serving:\n{tail}")
                )

    async def wait(self) -> int:
        assert self.proc is not None
        return await self.proc.wait()

    async def stop(self, timeout: float) -> int | None:
        """SIGTERM by PID (the child drains), SIGKILL after timeout; returns the exit status."""
        if self.proc is None:
            return None
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), timeout)
            except TimeoutError:
                log.warning(
                    "%s (pid %d) did not drain in %.0fs: SIGKILL", self.role, self.proc.pid, timeout
                )
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
                await self.proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._reader, 2.0)
        if self._ready is not None:
            if not self._ready.done():
                self._ready.cancel()
            elif not self._ready.cancelled():
                self._ready.exception()  # mark a late start failure as seen
        return self.proc.returncode
