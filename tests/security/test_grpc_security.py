"""TLS, mutual TLS and bearer tokens on a real ServiceRuntime: who gets in, who learns what.

Every refused client sees UNAUTHENTICATED with one fixed message, or a failed handshake
(UNAVAILABLE), never service data; health stays open to token-less probes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from yatt.codec.tensor import tensor_to_proto
from yatt.config.common import ServerConfig
from yatt.config.security import (
    AuthConfig,
    ClientSecurity,
    TLSConfig,
    set_default_client_security,
)
from yatt.errors import ConfigError
from yatt.protos import diagnostics_pb2, diagnostics_pb2_grpc
from yatt.rpc.channel import make_channel
from yatt.rpc.server import ServiceRuntime
from yatt.security.auth import DENIED
from yatt.security.certs import CertFiles

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
async def start() -> AsyncIterator[Callable[..., object]]:
    runtimes: list[ServiceRuntime] = []

    async def _start(cfg: ServerConfig) -> str:
        rt = ServiceRuntime(cfg, "secure")
        runtimes.append(rt)
        return await rt.start()

    yield _start
    for rt in runtimes:
        await rt.stop(0)
    set_default_client_security(None)


async def echo(endpoint: str, security: ClientSecurity | None) -> float:
    async with make_channel(endpoint, security=security) as channel:
        stub = diagnostics_pb2_grpc.DiagnosticsServiceStub(channel)
        req = diagnostics_pb2.EchoRequest(tensor=tensor_to_proto(torch.arange(4.0)))
        return (await stub.Echo(req, timeout=5)).sum


async def refused(endpoint: str, security: ClientSecurity | None) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await echo(endpoint, security)
    return err.value


def tls_server(pki: CertFiles, mutual: bool = False) -> TLSConfig:
    return TLSConfig(
        enabled=True, cert_file=str(pki.server_cert), key_file=str(pki.server_key),
        ca_file=str(pki.ca_cert), require_client_cert=mutual,
    )  # fmt: skip


def client(pki: CertFiles, cert: bool = False, token: Path | None = None) -> ClientSecurity:
    return ClientSecurity(
        ca_file=str(pki.ca_cert),
        cert_file=str(pki.client_cert) if cert else None,
        key_file=str(pki.client_key) if cert else None,
        token_file=str(token) if token else None,
    )


async def test_tls_right_ca_works_plaintext_and_wrong_ca_fail_handshake(
    start, pki: CertFiles, rogue_pki: CertFiles
) -> None:
    endpoint = await start(ServerConfig(tls=tls_server(pki)))
    assert await echo(endpoint, client(pki)) == 6.0
    # No TLS at all, or a CA that did not sign the server's cert: the handshake fails.
    assert (await refused(endpoint, None)).code() == grpc.StatusCode.UNAVAILABLE
    wrong = await refused(endpoint, client(rogue_pki))
    assert wrong.code() == grpc.StatusCode.UNAVAILABLE
    assert "6.0" not in (wrong.details() or "")


async def test_mtls_needs_a_client_cert_from_our_ca(
    start, pki: CertFiles, rogue_pki: CertFiles
) -> None:
    endpoint = await start(ServerConfig(tls=tls_server(pki, mutual=True)))
    assert await echo(endpoint, client(pki, cert=True)) == 6.0
    assert (await refused(endpoint, client(pki))).code() == grpc.StatusCode.UNAVAILABLE
    # A client cert from another CA (server verified with our CA): still refused.
    forged = ClientSecurity(
        ca_file=str(pki.ca_cert), cert_file=str(rogue_pki.client_cert),
        key_file=str(rogue_pki.client_key),
    )  # fmt: skip
    assert (await refused(endpoint, forged)).code() == grpc.StatusCode.UNAVAILABLE


async def test_token_missing_or_wrong_is_unauthenticated_and_says_nothing_more(
    start, token_file: Path, tmp_path: Path
) -> None:
    endpoint = await start(ServerConfig(auth=AuthConfig(token_file=str(token_file))))
    wrong_file = tmp_path / "wrong"
    wrong_file.write_text("correct-horse-battery-stapler\n")
    for security in (None, ClientSecurity(token_file=str(wrong_file))):
        err = await refused(endpoint, security)
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
        assert err.details() == DENIED
        assert not err.trailing_metadata() or "secure" not in str(err.trailing_metadata())
    assert await echo(endpoint, ClientSecurity(token_file=str(token_file))) == 6.0


async def test_token_check_covers_unknown_methods_and_reflection(start, token_file: Path) -> None:
    endpoint = await start(ServerConfig(auth=AuthConfig(token_file=str(token_file))))
    ok = ClientSecurity(token_file=str(token_file))
    for security, unknown_code in ((None, grpc.StatusCode.UNAUTHENTICATED),
                                   (ok, grpc.StatusCode.UNIMPLEMENTED)):  # fmt: skip
        async with make_channel(endpoint, security=security) as channel:
            # Without a token even a made-up method is UNAUTHENTICATED: no method probing.
            bogus = channel.unary_unary("/yatt.v1.Nope/Nothing")
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await bogus(b"", timeout=5)
            assert err.value.code() == unknown_code
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            call = stub.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
            )
            if security is None:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    async for _ in call:
                        pass
                assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            else:
                names = [s.name async for r in call for s in r.list_services_response.service]
                assert "yatt.v1.DiagnosticsService" in names


async def test_health_is_open_without_a_token(start, token_file: Path) -> None:
    endpoint = await start(ServerConfig(auth=AuthConfig(token_file=str(token_file))))
    async with make_channel(endpoint) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="yatt.v1.DiagnosticsService"), timeout=5
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_only_health_check_is_open_watch_and_list_need_the_token(
    start, token_file: Path
) -> None:
    """An open Watch let anyone hold a stream for ever, outside admission."""
    endpoint = await start(ServerConfig(auth=AuthConfig(token_file=str(token_file))))
    async with make_channel(endpoint) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.List(health_pb2.HealthListRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as err:
            async for _ in stub.Watch(health_pb2.HealthCheckRequest(), timeout=5):
                pass
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_tls_plus_token_uses_call_credentials(
    start, pki: CertFiles, token_file: Path, tmp_path: Path
) -> None:
    cfg = ServerConfig(
        tls=tls_server(pki, mutual=True), auth=AuthConfig(token_file=str(token_file))
    )
    endpoint = await start(cfg)
    assert await echo(endpoint, client(pki, cert=True, token=token_file)) == 6.0
    err = await refused(endpoint, client(pki, cert=True))
    assert (err.code(), err.details()) == (grpc.StatusCode.UNAUTHENTICATED, DENIED)


async def test_token_file_lines_are_all_accepted_for_rotation(
    start, token_file: Path, tmp_path: Path
) -> None:
    both = tmp_path / "tokens"
    both.write_text("old-token\nnew-token\n")
    endpoint = await start(ServerConfig(auth=AuthConfig(token_file=str(both))))
    for value in ("old-token", "new-token"):
        single = tmp_path / value
        single.write_text(value)
        assert await echo(endpoint, ClientSecurity(token_file=str(single))) == 6.0


async def test_process_default_from_env_reaches_every_make_channel(
    start, pki: CertFiles, token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = ServerConfig(tls=tls_server(pki, mutual=True), auth=AuthConfig(token_env="SRV_TOKEN"))
    monkeypatch.setenv("SRV_TOKEN", "correct-horse-battery-staple")  # = token_file
    endpoint = await start(cfg)
    assert (await refused(endpoint, None)).code() == grpc.StatusCode.UNAVAILABLE
    monkeypatch.setenv("YATT_TLS_CA", str(pki.ca_cert))
    monkeypatch.setenv("YATT_TLS_CERT", str(pki.client_cert))
    monkeypatch.setenv("YATT_TLS_KEY", str(pki.client_key))
    monkeypatch.setenv("YATT_TOKEN_FILE", str(token_file))
    assert await echo(endpoint, None) == 6.0
    # An explicit process default wins over the environment.
    set_default_client_security(client(pki, cert=True))
    assert (await refused(endpoint, None)).code() == grpc.StatusCode.UNAUTHENTICATED


async def test_unreadable_secrets_are_config_errors_naming_the_key(
    tmp_path: Path, pki: CertFiles
) -> None:
    tls = TLSConfig(
        enabled=True, cert_file=str(tmp_path / "absent.pem"), key_file=str(pki.server_key)
    )
    with pytest.raises(ConfigError, match=r"server\.tls\.cert_file: cannot read"):
        ServiceRuntime(ServerConfig(tls=tls), "x")
    with pytest.raises(ConfigError, match=r"server\.auth\.token_env"):
        ServiceRuntime(ServerConfig(auth=AuthConfig(token_env="YATT_SURELY_UNSET_VAR")), "x")
    with pytest.raises(ValueError, match="require_client_cert"):
        TLSConfig(enabled=True, cert_file="a", key_file="b", require_client_cert=True)
