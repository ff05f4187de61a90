"""The coordination layer against a real etcd with TLS, mutual TLS and user/password auth.

Certificates come from `yatt certs` (make_dev_certs); auth is turned on with etcdctl.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from yatt import keys
from yatt.config.common import EtcdConfig
from yatt.contracts import RewardMember
from yatt.coordination import Membership, RoleDirectory
from yatt.coordination.client import connect
from yatt.errors import ConfigError, Unavailable
from yatt.security.certs import CertFiles
from yatt.testing.etcd import EtcdServer, EtcdTLS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
def tls_etcd(pki: CertFiles) -> Iterator[EtcdServer]:
    tls = EtcdTLS(
        cert_file=str(pki.server_cert), key_file=str(pki.server_key), ca_file=str(pki.ca_cert),
        client_cert_auth=True, client_cert_file=str(pki.client_cert),
        client_key_file=str(pki.client_key),
    )  # fmt: skip
    server = EtcdServer(tls=tls).start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "etcd-password"
    path.write_text("s3cret-pw\n")
    path.chmod(0o600)
    return path


async def round_trip(cfg: EtcdConfig, timeout: float = 10.0) -> bytes:
    client = await connect(cfg, timeout=timeout)
    try:
        await client.put(b"/yatt/test/secure", b"ok")
        got = await client.get(b"/yatt/test/secure")
        return got.value
    finally:
        await client.close()


async def test_mtls_etcd_accepts_our_client_cert_only(
    tls_etcd: EtcdServer, pki: CertFiles, rogue_pki: CertFiles
) -> None:
    good = EtcdConfig(
        endpoint=tls_etcd.endpoint, ca_file=str(pki.ca_cert),
        cert_file=str(pki.client_cert), key_file=str(pki.client_key),
    )  # fmt: skip
    assert await round_trip(good) == b"ok"
    no_cert = EtcdConfig(endpoint=tls_etcd.endpoint, ca_file=str(pki.ca_cert))
    with pytest.raises(Unavailable):
        await round_trip(no_cert, timeout=1.5)
    wrong_ca = good.model_copy(update={"ca_file": str(rogue_pki.ca_cert)})
    with pytest.raises(Unavailable):
        await round_trip(wrong_ca, timeout=1.5)
    plaintext = EtcdConfig(endpoint=tls_etcd.endpoint)
    with pytest.raises(Unavailable):
        await round_trip(plaintext, timeout=1.5)


async def test_etcd_security_from_env_for_commands_that_only_know_the_endpoint(
    tls_etcd: EtcdServer, pki: CertFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YATT_ETCD_CA", str(pki.ca_cert))
    monkeypatch.setenv("YATT_ETCD_CERT", str(pki.client_cert))
    monkeypatch.setenv("YATT_ETCD_KEY", str(pki.client_key))
    assert await round_trip(EtcdConfig(endpoint=f"https://{tls_etcd.endpoint}")) == b"ok"


async def test_etcd_password_auth_right_wrong_and_missing(
    etcd: EtcdServer, password_file: Path, tmp_path: Path
) -> None:
    etcd.enable_auth("s3cret-pw")
    good = EtcdConfig(endpoint=etcd.endpoint, user="root", password_file=str(password_file))
    assert await round_trip(good) == b"ok"
    wrong = tmp_path / "wrong"
    wrong.write_text("guess\n")
    with pytest.raises(ConfigError, match="refused the credentials"):
        await round_trip(good.model_copy(update={"password_file": str(wrong)}), timeout=5)
    with pytest.raises(ConfigError, match="refused the credentials"):
        await round_trip(EtcdConfig(endpoint=etcd.endpoint), timeout=5)


async def test_etcd_token_is_renewed_after_etcd_restarts(
    etcd: EtcdServer, password_file: Path
) -> None:
    """etcd forgets simple tokens on restart; a long-lived client must re-authenticate."""
    etcd.enable_auth("s3cret-pw")
    cfg = EtcdConfig(endpoint=etcd.endpoint, user="root", password_file=str(password_file))
    client = await connect(cfg)
    try:
        await client.put(b"/yatt/test/a", b"1")
        etcd.restart()
        await (await connect(cfg)).close()  # waits until etcd answers again
        await client.put(b"/yatt/test/a", b"2")
        assert (await client.get(b"/yatt/test/a")).value == b"2"
    finally:
        await client.close()


async def test_membership_and_watch_over_tls_with_password_auth(
    pki: CertFiles, password_file: Path
) -> None:
    """Leases (keep-alive streams) and watches (streams) carry the token too."""
    tls = EtcdTLS(str(pki.server_cert), str(pki.server_key), str(pki.ca_cert))
    with EtcdServer(tls=tls) as server:
        server.enable_auth("s3cret-pw")
        cfg = EtcdConfig(
            endpoint=server.endpoint, ca_file=str(pki.ca_cert), user="root",
            password_file=str(password_file), lease_ttl_s=2,
        )  # fmt: skip
        client = await connect(cfg)
        try:
            first, second = RewardMember(functions=["f1"]), RewardMember(functions=["f2"])
            holder = Membership(client, keys.member("job", "reward", "r0"), first.encode(), 2)
            await holder.start(timeout=10)
            async with RoleDirectory(client, "job", "reward") as directory:
                assert (await directory.wait_for(1, timeout=5))["r0"] == first
                await asyncio.sleep(3)  # past the TTL: only keep-alives keep r0 alive
                await holder.update(second.encode())
                await directory.wait_until(lambda m: m.get("r0") == second, timeout=5)
            await holder.stop()
        finally:
            await client.close()
