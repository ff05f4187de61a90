"""A single-node etcd server on free loopback ports: the one `yatt up` runs its job on, and the
one every test runs against (real lease, watch and transaction semantics, no fake).

stop/restart/kill exercise outages with the data dir kept or wiped; tls= serves https
(optionally requiring client certs) and enable_auth() turns on user/password auth.
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from yatt.process.ports import free_port

ETCD_ENV = "YATT_ETCD_BIN"
ETCDCTL_ENV = "YATT_ETCDCTL_BIN"


def find_binary(name: str, env_var: str, apt_package: str) -> str:
    """Path of an etcd tool: $env_var if set, else `name` on PATH."""
    for path in (os.environ.get(env_var), shutil.which(name)):
        if path and os.access(path, os.X_OK):
            return path
    raise RuntimeError(
        f"{name} not found on PATH: install the Debian package {apt_package} "
        f"(scripts/install.sh does) or set {env_var} to the binary"
    )


def find_etcd() -> str:
    """Path of the etcd binary ($YATT_ETCD_BIN, then PATH)."""
    return find_binary("etcd", ETCD_ENV, "etcd-server")


@dataclass(frozen=True)
class EtcdTLS:
    """PEM files for an https etcd; client_cert_auth makes it require client certs (mTLS)."""

    cert_file: str
    key_file: str
    ca_file: str
    client_cert_auth: bool = False
    # What the harness itself presents for /health and etcdctl when client_cert_auth is on.
    client_cert_file: str | None = None
    client_key_file: str | None = None


class EtcdServer:
    """One etcd process; `endpoint` is "127.0.0.1:PORT" for yatt's EtcdConfig."""

    def __init__(
        self, data_dir: str | None = None, name: str = "yatt-test", tls: EtcdTLS | None = None
    ) -> None:
        self.binary = find_etcd()
        self.name = name
        self.tls = tls
        self._auth: tuple[str, str] | None = None
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
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.endpoint}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def _argv(self) -> list[str]:
        client = self.url
        peer = f"http://127.0.0.1:{self.peer_port}"
        tls: list[str] = []
        if self.tls:
            tls = ["--cert-file", self.tls.cert_file, "--key-file", self.tls.key_file]
            # etcd demands client certs whenever --trusted-ca-file is given.
            if self.tls.client_cert_auth:
                tls += ["--trusted-ca-file", self.tls.ca_file, "--client-cert-auth"]
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
            *tls,
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
            url = f"{self.url}/health"
            with urllib.request.urlopen(url, timeout=0.5, context=self._ssl_context()) as resp:
                return b'"true"' in resp.read()
        except (urllib.error.URLError, OSError, TimeoutError):
            return False

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        context = ssl.create_default_context(cafile=self.tls.ca_file)
        if self.tls.client_cert_file and self.tls.client_key_file:
            context.load_cert_chain(self.tls.client_cert_file, self.tls.client_key_file)
        return context

    def etcdctl(self, *args: str) -> str:
        """Runs the etcdctl binary (Debian etcd-client) against this server; returns stdout."""
        binary = find_binary("etcdctl", ETCDCTL_ENV, "etcd-client")
        argv = [binary, "--endpoints", self.url, "--dial-timeout", "5s"]
        if self.tls:
            argv += ["--cacert", self.tls.ca_file]
            if self.tls.client_cert_file and self.tls.client_key_file:
                argv += ["--cert", self.tls.client_cert_file, "--key", self.tls.client_key_file]
        if self._auth:
            argv += ["--user", f"{self._auth[0]}:{self._auth[1]}"]
        env = {**os.environ, "ETCDCTL_API": "3"}
        done = subprocess.run(
            [*argv, *args], env=env, capture_output=True, text=True, timeout=30, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"etcdctl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def enable_auth(self, root_password: str) -> None:
        """Creates user root with root_password and turns etcd authentication on."""
        self.etcdctl("user", "add", "root", "--new-user-password", root_password)
        self.etcdctl("user", "grant-role", "root", "root")
        self.etcdctl("auth", "enable")
        self._auth = ("root", root_password)

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
