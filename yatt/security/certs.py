"""Development certificates: a private CA, a server cert for given hosts, and a client cert.

For local clusters and tests only; production clusters should use their own PKI. ECDSA P-256
keeps generation instant; keys are written 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class CertFiles:
    """Paths written by make_dev_certs."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    token: Path | None


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "yatt development"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(hosts: list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    days: int,
    usages: list[x509.ObjectIdentifier],
    hosts: list[str] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, signer = issuer if issuer else (_name(subject), key)
    is_ca = issuer is None
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate small clock skew
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if is_ca:
        usage = dict(key_cert_sign=True, crl_sign=True, digital_signature=False)
    else:
        usage = dict(key_cert_sign=False, crl_sign=False, digital_signature=True)
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), False)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
        )
    builder = builder.add_extension(
        x509.KeyUsage(
            content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, encipher_only=False, decipher_only=False, **usage,
        ),
        True,
    )  # fmt: skip
    if hosts:
        builder = builder.add_extension(_san(hosts), False)
    return builder.sign(signer, hashes.SHA256())


def _write(path: Path, data: bytes, secret: bool, force: bool) -> None:
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists (pass force=True / --force to overwrite)")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600 if secret else 0o644)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_dev_certs(
    out_dir: str | Path,
    hosts: list[str] | tuple[str, ...] = DEFAULT_HOSTS,
    client_name: str = "yatt-client",
    days: int = 365,
    token: bool = True,
    force: bool = False,
) -> CertFiles:
    """Writes ca.pem, ca-key.pem, server.pem, server-key.pem, client.pem, client-key.pem
    (and a random bearer token in `token`) into out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("yatt development CA", ca_key, None, days, [])
    issuer = (ca.subject, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    # clientAuth too: etcd presents its server cert when it dials its own peers/gateway.
    server = _issue(
        hosts[0] if hosts else "yatt-server", server_key, issuer, days,
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], list(hosts),
    )  # fmt: skip
    client_key = ec.generate_private_key(ec.SECP256R1())
    # etcd with --client-cert-auth maps the client cert's CN to its user name.
    client = _issue(client_name, client_key, issuer, days, [ExtendedKeyUsageOID.CLIENT_AUTH])
    files = CertFiles(
        ca_cert=out / "ca.pem", ca_key=out / "ca-key.pem",
        server_cert=out / "server.pem", server_key=out / "server-key.pem",
        client_cert=out / "client.pem", client_key=out / "client-key.pem",
        token=out / "token" if token else None,
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    _write(files.ca_cert, ca.public_bytes(pem), False, force)
    _write(files.ca_key, _pem_key(ca_key), True, force)
    _write(files.server_cert, server.public_bytes(pem), False, force)
    _write(files.server_key, _pem_key(server_key), True, force)
    _write(files.client_cert, client.public_bytes(pem), False, force)
    _write(files.client_key, _pem_key(client_key), True, force)
    if files.token is not None:
        _write(files.token, (secrets.token_urlsafe(32) + "\n").encode(), True, force)
    return files
