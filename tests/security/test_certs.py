"""`yatt certs` and the token comparison, in-process: chains, SANs, usages, file modes."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
import typer
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from typer.testing import CliRunner

from yatt.commands.certs import certs
from yatt.security.auth import token_matches
from yatt.security.certs import make_dev_certs

pytestmark = pytest.mark.unit


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_dev_certs_chain_to_the_ca_with_hosts_and_usages(tmp_path: Path) -> None:
    files = make_dev_certs(tmp_path, ["10.0.0.7", "trainer.local"], client_name="ctl")
    ca, server, client = load(files.ca_cert), load(files.server_cert), load(files.client_cert)
    server.verify_directly_issued_by(ca)
    client.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.7")]
    assert san.get_values_for_type(x509.DNSName) == ["trainer.local"]
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert client.subject.rfc4514_string().startswith("CN=ctl")
    for secret in (files.ca_key, files.server_key, files.client_key, files.token):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert len(files.token.read_text().strip()) >= 40


def test_existing_files_are_not_overwritten_without_force(tmp_path: Path) -> None:
    first = make_dev_certs(tmp_path)
    before = first.ca_cert.read_bytes()
    with pytest.raises(FileExistsError):
        make_dev_certs(tmp_path)
    assert first.ca_cert.read_bytes() == before
    assert make_dev_certs(tmp_path, force=True).ca_cert.read_bytes() != before


def test_cli_writes_the_files_and_refuses_to_clobber(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(certs)
    app.command("noop")(lambda: None)  # two commands: `certs` stays a subcommand
    runner = CliRunner()
    ok = runner.invoke(app, ["certs", "--out", str(tmp_path), "--hosts", "127.0.0.1,node1"])
    assert ok.exit_code == 0, ok.output
    assert "server_cert" in ok.output and (tmp_path / "server.pem").exists()
    again = runner.invoke(app, ["certs", "--out", str(tmp_path)])
    assert again.exit_code == 1


def test_token_match_is_exact() -> None:
    accepted = [b"alpha-token", b"beta-token"]
    assert token_matches("beta-token", accepted)
    for wrong in ("", "beta-toke", "beta-tokenx", "BETA-TOKEN", "alpha-token "):
        assert not token_matches(wrong, accepted)
