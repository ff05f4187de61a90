"""A real single-node etcd server for tests, on free loopback ports with a throwaway data dir.

Coordination tests need the real lease, watch and transaction semantics, so no fake is used;
stop/restart/kill let tests exercise outages with the data dir kept or wiped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import aetcd

from yatt.testing.procs import free_port

ETCD_ENV = "YATT_ETCD_BIN"


def find_etcd() -> str:
    """Path of the etcd binary ($YATT_ETCD_BIN, then PATH, then /usr/bin/etcd)."""
    candidates = [os.environ.get(ETCD_ENV), shutil.which("etcd"), "/usr/bin/etcd"]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    raise RuntimeError(
        "etcd binary not found: install the Debian package etcd-server "
        f"(apt-get install etcd-server) or set {ETCD_ENV} to an etcd v3.4+ binary"
    )


class EtcdServer:
    """One etcd process; `endpoint` is "127.0.0.1:PORT" for yatt's EtcdConfig."""

    def __init__(self, data_dir: str | None = None, name: str = "yatt-test") -> None:
        self.binary = find_etcd()
        self.name = name
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="yatt-etcd-"))
        self.client_port = 0
        self.peer_port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = self.data_dir / "etcd.log"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def _argv(self) -> list[str]:
        client = f"http://127.0.0.1:{self.client_port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        return [
            self.binary,
            "--name", self.name,
            "--data-dir", str(self.data_dir / "data"),
            "--listen-client-urls", client,
            "--advertise-client-urls", client,
            "--listen-peer-urls", peer,
            "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"{self.name}={peer}",
            "--initial-cluster-state", "new",
            # A single node still waits one election timeout before leading; short timeouts
            # make startup and restart take well under a second.
            "--heartbeat-interval", "50",
            "--election-timeout", "300",
            "--logger", "zap",
            "--log-outputs", "stderr",
            "--log-level", "warn",
        ]  # fmt: skip

    def start(self, timeout: float = 20.0) -> EtcdServer:
        """Starts on fresh free ports (retried if a port was taken meanwhile)."""
        for attempt in range(3):
            self.client_port, self.peer_port = free_port(), free_port()
            try:
                return self._launch(timeout)
            except RuntimeError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _launch(self, timeout: float) -> EtcdServer:
        log = open(self._log, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        try:
            self._proc = subprocess.Popen(
                self._argv(), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self._proc.returncode}:\n{self.log_tail()}")
            if self.healthy():
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"etcd did not answer within {timeout}s:\n{self.log_tail()}")

    def healthy(self) -> bool:
        """True when etcd answers /health with a leader (it can serve reads and writes)."""
        try:
            url = f"http://{self.endpoint}/health"
            with urllib.request.urlopen(url, timeout=0.5) as resp:
                return b'"true"' in resp.read()
        except (urllib.error.URLError, OSError, TimeoutError):
            return False

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM by PID, SIGKILL if it has not exited within timeout."""
        if self._proc is None or self._proc.poll() is not None:
            return
        os.kill(self._proc.pid, signal.SIGTERM)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL by PID: a crash, nothing flushed beyond what etcd already synced."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def restart(self, wipe: bool = False, down_s: float = 0.0, timeout: float = 20.0) -> None:
        """Stops, stays down down_s seconds, starts again on the same ports.

        wipe=False keeps the data dir (keys and leases survive, as after a crash);
        wipe=True starts empty, as if the cluster had lost its data.
        """
        self.stop()
        if wipe:
            shutil.rmtree(self.data_dir / "data", ignore_errors=True)
        if down_s > 0:
            time.sleep(down_s)
        self._launch(timeout)

    def close(self) -> None:
        """Stops the server and removes its data dir and log if this object created them."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> EtcdServer:
        return self.start() if self._proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def wait_for_key(
    client: aetcd.Client, key: str, present: bool = True, timeout: float = 10.0
) -> float:
    """Polls until key exists (or not); returns the seconds it took, TimeoutError otherwise."""
    start = time.monotonic()
    while True:
        try:
            if (await client.get(key.encode()) is not None) == present:
                return time.monotonic() - start
        except aetcd.ClientError:
            pass  # etcd restarting: keep polling until the deadline
        if time.monotonic() - start > timeout:
            state = "appear" if present else "disappear"
            raise TimeoutError(f"{key} did not {state} within {timeout}s")
        await asyncio.sleep(0.05)
